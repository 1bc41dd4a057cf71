"""This clone of the project: its revision and public origin, for the images' labels."""

from __future__ import annotations

import re
import subprocess

from .paths import ROOT


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def public_url(url: str) -> str:
    """The repository URL fit for an image label: a network URL without credentials, else ''."""
    url = re.sub(r"//[^/@]*@", "//", url)  # never record credentials
    return url if re.match(r"^(https?|ssh|git)://", url) else ""


def source_url() -> str:
    return public_url(git("config", "--get", "remote.origin.url"))


def revision() -> str:
    return git("rev-parse", "HEAD") or "unknown"
