"""``python -m gocardless_sandbox``."""

import sys

from gocardless_sandbox.cli import main

sys.exit(main())
