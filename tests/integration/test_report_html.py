"""The one-page HTML report as a release engineer would open it: in a real (headless) Chromium,
offline, from a file.  The screenshot is kept in the test's folder and its path printed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from matplotlib import image

from tools.reporting import report
from tools.running import results, sampling

from .conftest import tools_cli

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
HOST = {"name": "server", "platform": "amd64", "cpu": "AMD EPYC", "cores": 2, "memory_bytes": 24 * 2**30}
START = "2026-01-01T00:00:00+00:00"


def record(image_name: str, platform: str, compiler: str, seconds: float, start: str, end: str, **extra) -> dict:
    return {"set": "1.13.0", "image": image_name, "platforms": [platform], "sequential": False, "host": HOST,
            "start": start, "end": end, "wall_seconds": seconds, "status": "ok", "compiler": compiler,
            "no_cache": True, "bench": {"id": "20260101T000000Z", "part": "cold", "run": 1,
                                        "label": f"{platform} {compiler}"}, **extra}


def plugins_build() -> dict:
    """A cold orthanc-plugins build with stage times and a memory series."""
    origin = report.epoch("2026-01-01T00:30:00+00:00")
    spans = [("builder-base", 0, 40), ("framework", 40, 570), ("build-orthanc", 40, 1080),
             ("build-postgresql", 570, 900), ("build-gdcm", 570, 670), ("orthanc-plugins", 1080, 1093)]
    stages = [{"stage": name, "started": origin + a, "completed": origin + b, "seconds": b - a, "cached": False,
               "steps": 2} for name, a, b in spans]
    samples = [(t, (700 + 1500 * sum(a <= t < b for _, a, b in spans[1:5])) * 2**20) for t in range(0, 1094)]
    return record("orthanc-plugins", "amd64", "native", 1093.0, "2026-01-01T00:30:00+00:00",
                  "2026-01-01T00:48:13+00:00", stages=stages, memory_baseline_bytes=700 * 2**20,
                  memory_series=sampling.series(samples, origin))


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    found = shutil.which("chromium")
    assert found, "no chromium: run `nox -s provision` (it installs the test services)"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.run([found, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"chromium {' '.join(extra)}: exit {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


def test_the_html_report_opens_offline_in_chromium(tmp_path):
    builds = tmp_path / "builds.jsonl"
    for item in (record("orthanc", "armv7", "cross", 688.0, START, "2026-01-01T00:11:28+00:00"),
                 record("orthanc", "amd64", "native", 605.0, "2026-01-01T00:12:00+00:00", "2026-01-01T00:22:05+00:00"),
                 plugins_build()):
        results.append(builds, item)
    page = tmp_path / "report.html"
    made = tools_cli("report", "--results", str(builds), "--html", str(page), check=True)
    assert f"wrote {page}" in made.stdout

    dom = chromium(page.as_uri(), "--dump-dom").stdout
    for name in ("build-times", "stages", "bench"):
        assert re.search(rf'<table data-table="{name}">', dom), f"no {name} table in the page Chromium shows"
    assert "orthanc-plugins" in dom and "build-postgresql" in dom and "armv7 cross" in dom
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', dom)
    assert len(images) == 3, images
    assert not re.search(r'(src|href)="(https?:|//)', dom)

    screenshot = tmp_path / "report.png"
    chromium(page.as_uri(), f"--screenshot={screenshot}", "--window-size=1200,2000")
    print(f"report.html in Chromium: {screenshot}")
    pixels = image.imread(str(screenshot))[:, :, :3]
    native = (pixels[:, :, 0] < 0.05) & (abs(pixels[:, :, 1] - 0x72 / 255) < 0.05) & (
        abs(pixels[:, :, 2] - 0xB2 / 255) < 0.05)
    assert native.sum() > 2000, "the charts' bars are not on the screen: the embedded images did not show"
