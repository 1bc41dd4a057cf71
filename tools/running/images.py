"""Facts about built images (subprocess calls at the edge)."""

from __future__ import annotations

import subprocess


def size_bytes(ref: str, platform: str) -> int | None:
    """Disk space of the image's root file system, measured inside it (``du -sxk /``).

    The size is what the image occupies unpacked on a host, which is what the size goals
    are about; a foreign platform's image runs under qemu for the few seconds this takes.
    """
    proc = subprocess.run(
        ["docker", "run", "--rm", "--platform", platform, "--user", "root", "--entrypoint", "du",
         ref, "-sxk", "/"], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    try:
        return int(proc.stdout.split()[0]) * 1024
    except (IndexError, ValueError):
        return None
