"""``python -m tools.release_sets``: the entry point of ``releases`` and ``propose``
(tools/commands/release_sets.py)."""

import sys

from .commands.release_sets import main

if __name__ == "__main__":
    sys.exit(main())
