"""The README's build-time table is the tool's rendering of the committed records; import merges hosts."""

import json
from pathlib import Path

from tools import cli, paths
from tools.commands import report as report_command
from tools.reporting import report
from tools.running import results

ROOT = Path(__file__).resolve().parent.parent


def test_readme_table_matches_the_committed_records():
    """Fails when README.md was edited by hand or docs/build-times.jsonl changed without `--readme`."""
    text = (ROOT / "README.md").read_text()
    start, end = report.README_START.format(name="build-times"), report.README_END.format(name="build-times")
    assert start in text and end in text, "README.md lacks the generated build-time block"
    block = text.split(start, 1)[1].split(end, 1)[0].strip("\n")
    assert block == report_command.readme_table(), "README.md's table is stale: run `nox -s report -- --readme`"


def test_committed_records_are_whole_and_carry_no_local_paths():
    records, damaged = results.read(paths.REFERENCE)
    assert records and not damaged
    assert all("log" not in r for r in records)
    images = {(r["image"], r["platforms"][0], r["compiler"]) for r in records}
    assert ("orthanc", "amd64", "native") in images


def record(host, start, image="orthanc", platform="armv7"):
    return {"set": "1.10.1", "image": image, "platforms": [platform], "sequential": False,
            "host": {"name": host, "platform": "armv7", "cores": 4, "memory_bytes": 4 * 2**30},
            "start": start, "end": start, "wall_seconds": 4000.0, "status": "ok", "log": "/somewhere/x.rawjson"}


def test_import_merges_other_hosts_once(tmp_path, capsys):
    pi, server, into = tmp_path / "pi.jsonl", tmp_path / "server.jsonl", tmp_path / "all.jsonl"
    results.append(pi, record("pi4", "2026-01-01T00:00:00+00:00"))
    results.append(pi, record("pi4", "2026-01-02T00:00:00+00:00", image="orthanc-plugins"))
    results.append(server, record("x86", "2026-01-01T00:00:00+00:00", platform="amd64"))
    with open(server, "a") as handle:
        handle.write('{"damaged": \n')
    assert cli.main(["import", str(pi), str(server), "--into", str(into)]) == 0
    assert "3 record(s) added, 0 already there" in capsys.readouterr().out
    assert cli.main(["import", str(pi), "--into", str(into), "--image", "orthanc"]) == 0
    assert "0 record(s) added, 1 already there" in capsys.readouterr().out
    merged, damaged = results.read(into)
    assert len(merged) == 3 and not damaged and all("log" not in r for r in merged)
    assert cli.main(["report", "--results", str(into), "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert {row["image"] for row in table} == {"orthanc", "orthanc-plugins"}
