"""``python -m tools.provision``: the entry point of host provisioning (tools/provisioning/provision.py)."""

import sys

from .provisioning.provision import main

if __name__ == "__main__":
    sys.exit(main())
