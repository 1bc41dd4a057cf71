"""The append-only results file: one JSON object per line, one line per build.

Each record is written with a single ``write`` on a file opened for appending,
under an exclusive ``flock``, so builds running at once on one host never
interleave, and an interrupted build leaves either a whole line or none.

Every record is checked in one place, ``Record.from_dict``: the fields the
reports read must be there with the right types (numbers finite, lists lists,
and so on).  Reading reports a damaged line (truncated, not JSON, NaN, nested
too deep, a field of the wrong type) and skips it rather than failing; writing
refuses a record that reading would skip.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import FatalError
from ..planning.spec import BenchMark

REQUIRED = ("set", "image", "platforms", "host", "start", "end", "wall_seconds", "status")
STATUSES = ("ok", "failed", "interrupted", "OOM")


class RecordError(ValueError):
    """A record that is not a build record, in one line."""


class ResultsError(FatalError):
    """A results file that cannot be read or written, in one line."""


# --- the record's shape ----------------------------------------------------------------
#
# A checker takes a value and returns what is wrong with it, or None.

Checker = Callable[[Any], "str | None"]


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "not a non-empty string"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "not a string"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


#: The largest whole number a record holds: 64 bits, as any other reader of JSON has them.
LARGEST = 2**63 - 1


def _integer(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "not a whole number"
    return None if abs(value) <= LARGEST else "out of range"


def _finite(value: Any) -> bool:
    """Whether a number is finite as a float too (a whole number of 400 digits is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    return None if _finite(value) and value >= 0 else "not a finite number of at least 0"


def _offset(value: Any) -> str | None:
    """A time stamp in seconds: any finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    return None if _finite(value) else "not a finite number"


def _status(value: Any) -> str | None:
    return None if value in STATUSES else f"not one of {', '.join(STATUSES)}"


def _nullable(check: Checker) -> Checker:
    return lambda value: None if value is None else check(value)


def _list(check: Checker, non_empty: bool = False) -> Checker:
    def checker(value: Any) -> str | None:
        if not isinstance(value, list):
            return "not a list"
        if non_empty and not value:
            return "an empty list"
        for index, item in enumerate(value):
            problem = check(item)
            if problem:
                return f"item {index}: {problem}"
        return None
    return checker


def _object(fields: dict[str, Checker], required: Iterable[str] = ()) -> Checker:
    required = tuple(required)

    def checker(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "not an object"
        for key in required:
            if key not in value:
                return f"no '{key}'"
        for key, check in fields.items():
            if key in value:
                problem = check(value[key])
                if problem:
                    return f"'{key}' {problem}"
        return None
    return checker


def _mapping(check: Checker) -> Checker:
    def checker(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "not an object"
        for key, item in value.items():
            problem = check(item)
            if problem:
                return f"'{key}' {problem}"
        return None
    return checker


_STAGE = _object({"stage": _text, "started": _offset, "completed": _offset, "seconds": _number,
                  "cached": _boolean, "steps": _integer}, required=("stage", "started", "completed", "seconds",
                                                                    "cached"))


def _pair(value: Any) -> str | None:
    """A point of a series: [seconds, value], both numbers of at least 0."""
    return _list(_number)(value) or (None if len(value) == 2 else "not a pair of numbers")


_SERIES = _object({"started": _offset, "step_seconds": _number, "points": _list(_pair)},
                  required=("started", "points"))
_JOB = _object({"target": _text, "start": _offset, "end": _offset, "seconds": _number, "status": _string,
                "cached": _boolean, "overlapped": _boolean, "memory_build_peak_bytes": _number,
                "estimate_bytes": _number, "errors": _list(_string)}, required=("target", "start", "end", "status"))

#: Every field the tools read, and what it must be.  Other fields are kept as they are.
FIELDS: dict[str, Checker] = {
    "set": _text,
    "image": _text,
    "platforms": _list(_text, non_empty=True),
    "sequential": _boolean,  # written by older versions; a limit of one stage at a time is in "scheduler"
    "host": _object({"name": _string, "platform": _string, "cpu": _string, "cores": _integer,
                     "memory_bytes": _number}),
    "start": _text,
    "end": _text,
    "wall_seconds": _number,
    "status": _status,
    # Optional fields.
    "stages": _list(_STAGE),
    "jobs": _list(_JOB),
    "bench": _nullable(_object({"id": _text, "part": _text, "run": _integer, "label": _string},
                               required=("id", "part", "run", "label"))),
    "only_stages": _list(_text),
    "without": _nullable(_list(_text)),
    "tags": _list(_string),
    "errors": _list(_string),
    "compiler": _nullable(_string),
    "emulated": _boolean,
    "no_cache": _boolean,
    "pushed": _boolean,
    "libraries": _string,
    "toolchain": _string,
    "digest": _nullable(_string),
    "exit_code": _nullable(_integer),
    "log": _string,
    "retry_of": _string,
    "size_bytes": _nullable(_number),
    "memory_baseline_bytes": _nullable(_number),
    "memory_peak_bytes": _nullable(_number),
    "memory_build_peak_bytes": _nullable(_number),
    "memory_series": _nullable(_SERIES),  # memory in use over the build: [seconds from started, MiB]
    "cpu_seconds": _nullable(_number),
    "compile_jobs": _nullable(_integer),
    "ccache": _mapping(_object({"hits": _integer, "calls": _integer}, required=("hits", "calls"))),
    "scheduler": _nullable(_object({"max_parallel": _nullable(_integer), "memory_budget_bytes": _nullable(_number),
                                    "max_concurrent": _integer})),
}


@dataclass(frozen=True, eq=False)
class Record(Mapping):
    """One build, checked: the type the writer, the reports, the bench and import share.

    The fields every report uses are attributes, ``bench`` typed; the whole record as written is
    ``data``, and the record reads as that mapping too (``record["stages"]``), so records written by
    older versions (with ``sequential``, say) read as they are.
    """

    set_name: str
    image: str
    platforms: tuple[str, ...]
    host: dict
    start: str
    end: str
    wall_seconds: float
    status: str
    bench: BenchMark | None
    data: dict = field(repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def from_dict(cls, data: Any) -> "Record":
        """The record, or RecordError saying what is wrong with it."""
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        missing = [key for key in REQUIRED if key not in data]
        if missing:
            raise RecordError("missing " + ", ".join(missing))
        for key, check in FIELDS.items():
            if key in data:
                problem = check(data[key])
                if problem:
                    raise RecordError(f"'{key}' {problem}")
        bench = BenchMark(**data["bench"]) if data.get("bench") else None
        return cls(data["set"], data["image"], tuple(data["platforms"]), data["host"],
                   data["start"], data["end"], float(data["wall_seconds"]), data["status"], bench, data)

    @property
    def identity(self) -> tuple:
        return identity(self.data)

    def line(self) -> bytes:
        """The record as one line of the file."""
        try:
            text = json.dumps(self.data, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError, RecursionError) as exc:
            raise RecordError(f"not JSON ({exc})") from None
        return (text + "\n").encode()


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def parse_line(raw: bytes) -> Record:
    """One line of a results file as a record, or RecordError."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise RecordError("not JSON (nested too deep)") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise RecordError(f"not JSON ({exc})") from None
    return Record.from_dict(data)


# --- the file -----------------------------------------------------------------------------


def path_problem(path: Path) -> str | None:
    """What keeps ``path`` from being a results file (read, or made on the first append), else None."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"{path} is a dangling symbolic link"
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        return None if parent.is_dir() else f"{path}: {parent} is not a directory"
    except OSError as exc:  # a symbolic link loop, a file where a folder should be, no permission
        return f"{path}: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return f"{path} is a directory, not a results file"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    return None


@dataclass(frozen=True)
class Damaged:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: line {self.line}: skipped, {self.reason}"


def _records_of(path: Path, lines: Iterable[bytes]) -> tuple[list[Record], list[Damaged]]:
    records: list[Record] = []
    damaged: list[Damaged] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if not raw.endswith(b"\n"):
            damaged.append(Damaged(path, number, "truncated line (no newline)"))
            continue
        try:
            records.append(parse_line(raw))
        except RecordError as exc:
            damaged.append(Damaged(path, number, str(exc)))
    return records, damaged


def read(path: Path) -> tuple[list[Record], list[Damaged]]:
    """All records of a results file, and the lines that could not be read.  No file: no records."""
    try:
        with open(path, "rb") as handle:
            return _records_of(path, handle)
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise ResultsError(f"{path}: {exc.strerror or exc}") from None


def _open_locked(path: Path) -> int:
    """The results file opened for reading and appending, under an exclusive lock."""
    problem = path_problem(path)
    if problem:
        raise ResultsError(problem)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ResultsError(f"{path}: {exc.strerror or exc}") from None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    """Append ``data`` whole, or leave the file as it was."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data  # a killed writer left half a line: keep ours whole
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError:
        os.ftruncate(fd, size)
        raise


def append(path: Path, record: dict) -> None:
    """Add one build's record (checked first: a record reading would skip is refused)."""
    line = Record.from_dict(record).line()
    fd = _open_locked(path)
    try:
        _write_all(fd, line)
    finally:
        os.close(fd)


def append_new(path: Path, records: Iterable[Record]) -> tuple[int, int]:
    """Add the records not yet in the file, all of them or none, under the lock that guards the
    read of what is there: imports running at once add each record once.  Returns (added, present)."""
    lines = [(record.identity, record.line()) for record in records]
    if not lines:
        return 0, 0
    fd = _open_locked(path)
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            existing = {record.identity for record in _records_of(path, handle)[0]}
        new = b""
        present = 0
        for key, line in lines:
            if key in existing:
                present += 1
                continue
            existing.add(key)
            new += line
        if new:
            _write_all(fd, new)
        return len(lines) - present, present
    except OSError as exc:
        raise ResultsError(f"{path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


#: Fields that only make sense on the machine that ran the build (paths of its logs).
LOCAL_FIELDS = ("log",)


def identity(record: dict) -> tuple:
    """What makes a record the same build wherever it was copied: host, start, image, platforms."""
    return (record["host"].get("name"), record["start"], record["image"], tuple(record["platforms"]),
            tuple(record.get("only_stages", ())))


def portable(record: dict) -> dict:
    """The record without what points into the machine that made it."""
    return {key: value for key, value in record.items() if key not in LOCAL_FIELDS}
