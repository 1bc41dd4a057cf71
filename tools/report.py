"""Tabulate recorded builds (pure functions over results records)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from tabulate import tabulate

from .host import short

FORMATS = ("github", "plain", "csv", "json")


def column(record: dict) -> str:
    """E.g. 'x86-64, 2 cores, 23 GiB / armv7 cross': how the code was compiled for the platform."""
    platforms = ",".join(record["platforms"])
    how = record.get("compiler") or ("emulated" if record.get("emulated") else "native")
    seq = ", sequential" if record.get("sequential") else ""
    return f"{short(record['host'])} / {platforms} {how}{seq}"


def cell(record: dict) -> str:
    if record["status"] == "ok":
        return f"{record['wall_seconds']:.0f}"
    return "OOM" if record["status"] == "OOM" else record["status"]


def select(records: list[dict], sets=None, images=None, platforms=None, hosts=None,
           since: str | None = None, until: str | None = None, cold: bool = False) -> list[dict]:
    """Records matching every filter given; dates compare with the build's end (ISO 8601, UTC).

    ``until`` takes a date or a time: a bare date includes the whole of that day.
    """
    def keep(r: dict) -> bool:
        return ((not sets or r["set"] in sets)
                and (not images or r["image"] in images)
                and (not platforms or any(p in platforms for p in r["platforms"]))
                and (not hosts or r["host"].get("name") in hosts)
                and (not since or r["end"] >= since)
                and (not until or r["end"][:len(until)] <= until)
                and (not cold or bool(r.get("no_cache"))))
    return [r for r in records if keep(r)]


def left_out(record: dict) -> str:
    """`` (without dicomweb, wsi)`` for an image built without some plugins, else ''."""
    without = record.get("without") or []
    return f" (without {', '.join(without)})" if without else ""


def image_label(record: dict) -> str:
    """The image, and the plugins it was built without, if any (a partial image is not the image)."""
    return record["image"] + left_out(record)


def mode(record: dict) -> str:
    """How the builder stages were scheduled: parallel, sequential or budget."""
    scheduler = record.get("scheduler") or {}
    if record.get("sequential") or scheduler.get("max_parallel") == 1:
        return "sequential"
    return "budget" if scheduler.get("memory_budget_bytes") else "parallel"


def build_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows: set and image; columns: host x platform; cell: the latest build's seconds or status."""
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    columns: list[str] = []
    for record in sorted(records, key=lambda r: r["end"]):
        if record.get("only_stages"):
            continue  # stages built into the cache, not an image
        col = column(record)
        if col not in columns:
            columns.append(col)
        latest.setdefault((record["set"], image_label(record)), {})[col] = record
    headers = ["set", "image", *columns]
    rows = []
    for (set_name, image), by_col in latest.items():
        rows.append([set_name, image, *[cell(by_col[c]) if c in by_col else "" for c in columns]])
    rows.sort(key=lambda row: (row[0], row[1]))
    return headers, rows


def render(headers: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(headers, row)) for row in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def critical_path(stages: list[dict]) -> list[str]:
    """The chain of stages that set the build's length, from timing alone.

    From the stage that ended last, step back each time to the stage that ended last before
    the current one started: the stage it was waiting for.
    """
    if not stages:
        return []
    current = max(stages, key=lambda st: st["completed"])
    path = [current["stage"]]
    while True:
        before = [st for st in stages if st["completed"] <= current["started"] + 0.05 and st["stage"] not in path]
        if not before:
            break
        current = max(before, key=lambda st: st["completed"])
        path.append(current["stage"])
    return list(reversed(path))


def stage_table(record: dict) -> tuple[list[str], list[list[str]]]:
    """Per-stage breakdown of one build: offset from the first stage, seconds, cached, critical."""
    stages = sorted(record.get("stages", []), key=lambda st: st["started"])
    if not stages:
        return ["stage"], []
    origin = stages[0]["started"]
    critical = set(critical_path(stages))
    rows = [[st["stage"], f"{st['started'] - origin:.1f}", f"{st['seconds']:.1f}",
             "yes" if st["cached"] else "", "*" if st["stage"] in critical else ""] for st in stages]
    return ["stage", "starts at (s)", "seconds", "cached", "critical path"], rows


def mib(value) -> str:
    return f"{value / 2**20:.0f}" if isinstance(value, (int, float)) else ""


def sequential_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Sequential against parallel, latest successful build of each, per set, image and platform."""
    latest: dict[tuple, dict[str, dict]] = {}
    for record in sorted(records, key=lambda r: r["end"]):
        if record["status"] == "ok":
            what = image_label(record) + "".join(f" {s}" for s in record.get("only_stages", []))
            key = (record["set"], what, ",".join(record["platforms"]), short(record["host"]))
            latest.setdefault(key, {})[mode(record)] = record
    headers = ["set", "image", "platform", "host", "parallel s", "sequential s", "time ratio",
               "parallel peak MiB", "sequential peak MiB", "memory ratio"]
    rows = []
    for (set_name, image, platforms, host), pair in sorted(latest.items()):
        if "sequential" not in pair or "parallel" not in pair:
            continue
        par, seq = pair["parallel"], pair["sequential"]
        par_mem, seq_mem = par.get("memory_build_peak_bytes"), seq.get("memory_build_peak_bytes")
        rows.append([set_name, image, platforms, host, f"{par['wall_seconds']:.0f}", f"{seq['wall_seconds']:.0f}",
                     f"{seq['wall_seconds'] / par['wall_seconds']:.2f}", mib(par_mem), mib(seq_mem),
                     f"{seq_mem / par_mem:.2f}" if par_mem and seq_mem else ""])
    return headers, rows


def size_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Unpacked image size in MiB: rows set and image, columns platform (latest measured build)."""
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    columns: list[str] = []
    for record in sorted(records, key=lambda r: r["end"]):
        if record["status"] == "ok" and record.get("size_bytes") and len(record["platforms"]) == 1:
            platform = record["platforms"][0]
            if platform not in columns:
                columns.append(platform)
            latest.setdefault((record["set"], image_label(record)), {})[platform] = record
    rows = [[set_name, image, *[mib(by[c]["size_bytes"]) if c in by else "" for c in columns]]
            for (set_name, image), by in sorted(latest.items())]
    return ["set", "image", *[f"{c} MiB" for c in columns]], rows


def chart(headers: list[str], rows: list[list[str]], path, title: str = "Build time") -> None:
    """A grouped bar chart of the build-time table (seconds per image, one bar per column), as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    columns = headers[2:]
    labels = [f"{row[1]}:{row[0]}" for row in rows]
    figure, axes = pyplot.subplots(figsize=(max(6, 1.6 * len(labels) * max(1, len(columns)) ** 0.5), 4.5))
    width = 0.8 / max(1, len(columns))
    for index, column_name in enumerate(columns):
        values, notes = [], []
        for row in rows:
            text = row[2 + index]
            values.append(float(text) if text.replace(".", "", 1).isdigit() else 0.0)
            notes.append(text if not text.replace(".", "", 1).isdigit() else "")
        positions = [i + index * width for i in range(len(rows))]
        bars = axes.bar(positions, values, width, label=column_name)
        for bar, note in zip(bars, notes):
            if note:
                axes.annotate(note, (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=8)
    axes.set_xticks([i + width * (len(columns) - 1) / 2 for i in range(len(rows))], labels)
    axes.set_ylabel("seconds")
    axes.set_title(title)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)


README_START = "<!-- {name}: generated by `nox -s report -- --readme`, do not edit -->"
README_END = "<!-- /{name} -->"


def readme_block(text: str, name: str, table: str) -> str:
    """``text`` with the block between the markers of ``name`` replaced by ``table``."""
    start, end = README_START.format(name=name), README_END.format(name=name)
    before, found, rest = text.partition(start)
    if not found or end not in rest:
        raise ValueError(f"no '{start}' ... '{end}' block")
    _, _, after = rest.partition(end)
    return f"{before}{start}\n{table}\n{end}{after}"


DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def date_problem(text: str) -> str | None:
    """What is wrong with a --since or --until value (records compare by their ISO 8601 end), else None."""
    for fmt in DATE_FORMATS:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        if len(text) in (10, 16, 19):  # strptime takes 2026-1-5 too; the comparison wants zero padding
            return None
    return f"'{text}' is not a date (want YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, UTC)"
