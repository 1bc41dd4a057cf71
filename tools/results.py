"""The append-only results file: one JSON object per line, one line per build.

Each record is written with a single ``write`` on a file opened for appending,
under an exclusive ``flock``, so builds running at once on one host never
interleave, and an interrupted build leaves either a whole line or none.
Reading reports a damaged line and skips it rather than failing.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("set", "image", "platforms", "sequential", "host", "start", "end", "wall_seconds", "status")
STATUSES = ("ok", "failed", "interrupted", "OOM")


def append(path: Path, record: dict) -> None:
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise ValueError(f"result record lacks {', '.join(missing)}")
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a killed writer left half a line: keep ours whole
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Damaged:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: line {self.line}: skipped, {self.reason}"


def read(path: Path) -> tuple[list[dict], list[Damaged]]:
    """All records of a results file, and the lines that could not be read."""
    records: list[dict] = []
    damaged: list[Damaged] = []
    if not path.exists():
        return records, damaged
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                damaged.append(Damaged(path, number, "truncated line (no newline)"))
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                damaged.append(Damaged(path, number, f"not JSON ({exc})"))
                continue
            if not isinstance(record, dict):
                damaged.append(Damaged(path, number, "not a JSON object"))
                continue
            missing = [key for key in REQUIRED if key not in record]
            if missing:
                damaged.append(Damaged(path, number, "missing " + ", ".join(missing)))
                continue
            records.append(record)
    return records, damaged


#: Fields that only make sense on the machine that ran the build (paths of its logs).
LOCAL_FIELDS = ("log",)


def identity(record: dict) -> tuple:
    """What makes a record the same build wherever it was copied: host, start, image, platforms."""
    return (record["host"].get("name"), record["start"], record["image"], tuple(record["platforms"]),
            tuple(record.get("only_stages", ())))


def portable(record: dict) -> dict:
    """The record without what points into the machine that made it."""
    return {key: value for key, value in record.items() if key not in LOCAL_FIELDS}
