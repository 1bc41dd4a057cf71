"""The Mercurial provider for real: `hg serve` on 127.0.0.1 serves a repository made from one of the
source mirror's archives, and a build clones the pinned branch from it through the tools' own code.

Users with the internet get their sources this way from upstream's repositories; here the repository
is local, and everything else about the build is what a user's build does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from tools.configuration import config
from tools.running import results
from tools.cli import DEFAULT_CONFIG

from .conftest import HG_SERVE_ENV, tools_cli

CFG = config.load(DEFAULT_CONFIG)
SET = CFG.settings.default_set
PIN = CFG.sets[SET].pins["gdcm"]
DEFAULT_ONLY = "ON-THE-DEFAULT-BRANCH-ONLY"


def mirror() -> Path:
    location = os.environ.get("ORTHANC_SOURCES_MIRROR", "")
    assert location and Path(location, "SHA256SUMS").is_file(), \
        "ORTHANC_SOURCES_MIRROR must name the source mirror folder (.ci/run sets it)"
    return Path(location)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A Mercurial repository with the pinned branch, made from the mirror's archive, served by hg."""
    assert shutil.which("hg"), "hg is missing: provisioning installs Debian's mercurial"
    root = tmp_path_factory.mktemp("hg")
    repo = root / "orthanc-gdcm"
    hg = ["hg", "--config", "ui.username=test <test@example.org>"]
    subprocess.run([*hg, "init", str(repo)], check=True)
    # A file of the default branch only, named like nothing upstream's trees hold.
    (repo / DEFAULT_ONLY).write_text("default branch\n")
    subprocess.run([*hg, "-R", str(repo), "commit", "-A", "-m", "default"], check=True, capture_output=True)
    subprocess.run([*hg, "-R", str(repo), "branch", PIN.branch], check=True, capture_output=True)
    (repo / DEFAULT_ONLY).unlink()
    with tarfile.open(mirror() / f"{PIN.branch}.tar.gz") as tar:
        tar.extractall(root / "unpacked", filter="data")
    (top,) = (root / "unpacked").iterdir()
    for item in top.iterdir():
        shutil.move(str(item), repo / item.name)
    subprocess.run([*hg, "-R", str(repo), "commit", "-A", "-m", f"{PIN.branch}"], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(["hg", "serve", "-R", str(repo), "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=HG_SERVE_ENV)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            time.sleep(0.3)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_build_clones_the_pinned_branch_from_mercurial(served, tmp_path):
    # The project's versions.toml, with the GDCM plugin's repository on the local server and
    # Mercurial tried first; the other sources of the stage come from the mirror.
    text = DEFAULT_CONFIG.read_text()
    old = 'repository = "https://orthanc.uclouvain.be/hg/orthanc-gdcm/"'
    assert old in text
    text = text.replace(old, f'repository = "{served}"')
    text = text.replace('sources = ["local", "debian", "mirror", "tarball", "mercurial"]',
                        'sources = ["mercurial", "mirror"]')
    cfg = tmp_path / "versions.toml"
    cfg.write_text(text)
    store = tmp_path / "sources"
    record_file = tmp_path / "builds.jsonl"
    proc = tools_cli("build", "--config", str(cfg), "--set", SET, "--platform", "amd64",
                     "--image", "orthanc-plugins", "--stage", "build-gdcm", "--sources-dir", str(store),
                     "--cache-registry", "--results", str(record_file))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    clone = store / "gdcm" / PIN.branch
    assert f"source src-gdcm: {clone}" in proc.stdout
    assert (clone / "CMakeLists.txt").is_file() and not (clone / ".hg").exists()
    assert not (clone / DEFAULT_ONLY).exists()  # the pinned branch, not the default one
    # The core came from the mirror: Orthanc's own repository is not reachable from here.
    assert f"source src-orthanc: {store / 'orthanc' / ('mirror-' + CFG.sets[SET].pins['orthanc'].branch)}" \
        in proc.stdout
    records, damaged = results.read(record_file)
    assert not damaged and records[-1]["status"] == "ok"
