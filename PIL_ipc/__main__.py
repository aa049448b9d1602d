"""Entry point for `python -m PIL_ipc`."""

import sys

from .tools.cli import main

# Guarded: worker processes started by `ipc batch` import this module again.
if __name__ == "__main__":
    sys.exit(main())
