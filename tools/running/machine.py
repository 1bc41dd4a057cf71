"""Describe the machine a build runs on, for the results file and reports."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path

from ..configuration.config import SUPPORTED_PLATFORMS
from ..configuration.matrix import host_platform

#: A platform's name -> how reports name a host of that architecture.
DESCRIBED = {support.name: support.described for support in SUPPORTED_PLATFORMS.values()}


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
            return value.strip()
    return platform.processor() or platform.machine()


def memory_bytes(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def describe() -> dict:
    return {
        "name": socket.gethostname(),
        "platform": host_platform(),
        "cpu": cpu_model(_read("/proc/cpuinfo")),
        "cores": os.cpu_count() or 1,
        "memory_bytes": memory_bytes(_read("/proc/meminfo")),
    }


def short(host: dict) -> str:
    """E.g. 'x86-64, 2 cores, 23 GiB'."""
    arch = DESCRIBED.get(host.get("platform", ""), "?")
    gib = round(host.get("memory_bytes", 0) / 2**30)
    return f"{arch}, {host.get('cores', '?')} cores, {gib} GiB"
