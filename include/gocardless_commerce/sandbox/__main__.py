"""``python -m gocardless_commerce.sandbox``."""

import sys

from gocardless_commerce.sandbox.cli import main

sys.exit(main())
