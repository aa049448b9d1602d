"""Entry point for `python -m PIL_ipc`."""

import sys

from .cli import main

sys.exit(main())
