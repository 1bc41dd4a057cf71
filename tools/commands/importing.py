"""``import``: add another host's (or run's) build records to a results file.

Every input is read and checked first; then what is new is appended at once, under the lock that
guards the read of what the target already holds: all or nothing, and safe to run at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..paths import REFERENCE
from ..reporting import bench_table
from ..running import results
from .checks import check_results_file, read_all
from .report import Selection


@dataclass(frozen=True)
class ImportRequest:
    files: tuple[Path, ...]
    into: Path = REFERENCE
    selection: Selection = Selection()
    latest_bench: bool = False  # only the records of the latest bench run
    part: str | None = None  # only the records of this bench part


def run(request: ImportRequest) -> int:
    for path in request.files:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"import: {path}: no such file")
        check_results_file(path, "import")
    check_results_file(request.into, "--into")
    request.selection.check()
    records = read_all(list(request.files))  # damaged records are reported and left out
    chosen = request.selection.of(records)
    if request.latest_bench:
        chosen = bench_table.latest_run(chosen)
    if request.part:
        chosen = [r for r in chosen if r.bench and r.bench.part == request.part]
    portable = [results.Record.from_dict(results.portable(r)) for r in sorted(chosen, key=lambda r: r["end"])]
    added, present = results.append_new(request.into, portable)
    print(f"{request.into}: {added} record(s) added, {present} already there")
    return 0
