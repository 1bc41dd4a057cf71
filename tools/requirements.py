"""``python -m tools.requirements``: the entry point that writes (or, with ``--check``, checks)
requirements.txt from requirements.in (tools/provisioning/requirements.py)."""

import sys

from .provisioning.requirements import main

if __name__ == "__main__":
    sys.exit(main())
