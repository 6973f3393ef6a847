from gocardless_commerce.cli import main

main()
