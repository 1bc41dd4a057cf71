"""Tabulate recorded builds (pure functions over results records)."""

from __future__ import annotations

import csv
import io
import json

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


def select(records: list[dict], sets=None, images=None, platforms=None, hosts=None) -> list[dict]:
    def keep(r: dict) -> bool:
        return ((not sets or r["set"] in sets)
                and (not images or r["image"] in images)
                and (not platforms or any(p in platforms for p in r["platforms"]))
                and (not hosts or r["host"].get("name") in hosts))
    return [r for r in records if keep(r)]


def build_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows: set and image; columns: host x platform; cell: the latest build's seconds or status."""
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    columns: list[str] = []
    for record in sorted(records, key=lambda r: r["end"]):
        col = column(record)
        if col not in columns:
            columns.append(col)
        latest.setdefault((record["set"], record["image"]), {})[col] = record
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
