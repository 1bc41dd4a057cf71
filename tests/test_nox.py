"""The nox sessions as users type them (no build is run)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nox(*args):
    return subprocess.run([sys.executable, "-m", "nox", *args], cwd=ROOT, capture_output=True, text=True)


def test_list_shows_every_set_platform_and_sequential_session():
    proc = nox("-l")
    assert proc.returncode == 0, proc.stderr
    for name in ("build-1.9.0-armv7", "build-1.9.0-armv7-sequential", "build-1.12.7-amd64",
                 "build-1.13.0-arm64-sequential", "build-1.10.1", "manifest", "report", "tests", "plan",
                 "provision", "bench"):
        assert f"- {name} " in proc.stdout or f"* {name} " in proc.stdout, name
    # Every session shows a docstring.
    for line in proc.stdout.splitlines():
        if line.startswith(("- ", "* ")):
            assert " -> " in line, line


def test_dry_run_prints_the_buildx_command_only():
    proc = nox("-s", "build-1.9.0-armv7", "--", "--dry-run", "--image", "orthanc", "--push", "--builder", "pis")
    assert proc.returncode == 0, proc.stderr
    commands = [line.strip() for line in proc.stdout.splitlines() if "docker buildx build" in line]
    assert len(commands) == 1
    cmd = commands[0]
    for part in ("--builder pis", "--target orthanc", "--platform linux/arm/v7", "--push",
                 "--tag 127.0.0.1:5000/orthanc/orthanc:1.9.0-armv7", "--build-arg ORTHANC_BRANCH=Orthanc-1.9.0"):
        assert part in cmd
    assert "==> orthanc:1.9.0-armv7: ok" not in proc.stdout


def test_plan_prints_every_session_command():
    proc = nox("-s", "plan", "--", "1.12.7")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("# nox -s build-1.12.7") == 7
    assert "--platform linux/amd64,linux/arm64,linux/arm/v7" in proc.stdout


def test_plan_prints_the_resolved_specs_as_json():
    proc = nox("-s", "plan", "--", "--format", "json", "1.12.7")
    assert proc.returncode == 0, proc.stderr
    sessions = {item["session"]: item["builds"] for item in json.loads(proc.stdout)}
    assert len(sessions) == 7 and len(sessions["build-1.12.7"]) == 2
    together = sessions["build-1.12.7"][0]
    assert together["platforms"] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert together["tags"] == ["127.0.0.1:5000/orthanc/orthanc:1.12.7"] and together["output"] == "load"
    assert together["build_args"]["ORTHANC_BRANCH"] == "Orthanc-1.12.7" and "src-orthanc" in together["contexts"]
    sequential = sessions["build-1.12.7-armv7-sequential"][1]
    assert sequential["limits"]["max_parallel"] == 1 and sequential["compile_jobs"] == 1
    assert sequential["jobs"]["order"][-1] == "orthanc-plugins"


def test_help_after_double_dash():
    proc = nox("-s", "build-1.9.0-armv7", "--", "--help")
    assert proc.returncode == 0
    assert "--no-cache" in proc.stdout and "--registry" in proc.stdout and "--builder" in proc.stdout


def test_bad_option_is_one_line_and_fails():
    proc = nox("-s", "build-1.9.0-armv7", "--", "--image", "dcm4chee", "--dry-run")
    assert proc.returncode != 0
    assert "error: python -m tools build: argument --image: invalid choice: 'dcm4chee'" in proc.stderr


def test_report_chart_prints_the_report_not_matplotlibs_debug_messages(tmp_path):
    """nox logs at debug level; drawing a chart must not add matplotlib's hundreds of font lookups."""
    chart = tmp_path / "build.png"
    proc = nox("-s", "report", "--", "--results", str(ROOT / "docs" / "build-times.jsonl"), "--view", "stages",
               "--chart", str(chart))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {chart}" in proc.stdout and chart.read_bytes().startswith(b"\x89PNG")
    output = proc.stdout + proc.stderr
    assert "matplotlib" not in output and "findfont" not in output and "PIL" not in output
    assert len(output.splitlines()) < 40, output[-3000:]
