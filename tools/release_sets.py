"""``python -m tools.release_sets``: the entry point of ``releases`` and ``propose``
(tools/configuration/release_sets.py)."""

import sys

from .configuration.release_sets import main

if __name__ == "__main__":
    sys.exit(main())
