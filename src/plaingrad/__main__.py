"""``python -m plaingrad``: the same as the ``plaingrad`` command."""

from __future__ import annotations

import sys

from plaingrad.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
