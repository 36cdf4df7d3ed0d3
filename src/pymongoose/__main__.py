"""``python -m pymongoose serve module:app``: the same as the ``pymongoose`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
