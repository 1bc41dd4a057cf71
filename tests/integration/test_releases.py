"""The release engineer's sessions for real: `releases` and `propose` against a local Mercurial server
(`hg serve` on 127.0.0.1 over one repository per upstream repository, made from the source mirror's
archives with a named branch per archive) and against the source mirror folder itself.

The mirror is the one CI names in ORTHANC_SOURCES_MIRROR.  Each branch holds its archive's CMake
files (what the listing and the compatibility reading need), not the whole tree, to stay fast.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from packaging.version import Version

from tools.configuration import config
from tools.planning import releases
from tools.cli import DEFAULT_CONFIG

from .conftest import HG_SERVE_ENV

ROOT = Path(__file__).resolve().parents[2]
HG = ["hg", "--config", "ui.username=release tests <tests@example.org>"]
SOURCES = ("hg", "mirror")


def mirror() -> Path:
    location = os.environ.get("ORTHANC_SOURCES_MIRROR", "")
    assert location and Path(location, "SHA256SUMS").is_file(), \
        "ORTHANC_SOURCES_MIRROR must name the source mirror folder (.ci/run sets it)"
    return Path(location)


def mirror_branches() -> list[str]:
    sums = releases.parse_sums((mirror() / "SHA256SUMS").read_text())
    return [name.removesuffix(".tar.gz") for name in sums if name.endswith(".tar.gz")]


CFG = config.load(DEFAULT_CONFIG)
TEXT = DEFAULT_CONFIG.read_text()
NEWEST = CFG.sorted_sets()[-1]


def upstream_versions() -> dict[str, list[str]]:
    """What the mirror has of each component, newest first, read here without the tools."""
    found = {}
    for name, component in CFG.components.items():
        prefix = component.branch_template.split("{version}")[0]
        versions = [b[len(prefix):] for b in mirror_branches()
                    if b.startswith(prefix) and re.fullmatch(r"[0-9.]+", b[len(prefix):])]
        found[name] = sorted(versions, key=Version, reverse=True)
    return found


def repository_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hg(*args: str) -> None:
    proc = subprocess.run([*HG, *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"hg {' '.join(args)}: {proc.stderr}"


def add_branch(repo: Path, branch: str, files: dict[str, bytes]) -> None:
    """A commit on a new named branch holding these files only (two hg calls: hg is slow to start)."""
    for item in repo.iterdir():
        if item.name != ".hg":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    for name, data in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    hg("-R", str(repo), "branch", "--quiet", "--force", branch)
    hg("-R", str(repo), "commit", "--quiet", "--addremove", "-m", f"{branch}")


def cmake_files(archive: Path) -> dict[str, bytes]:
    """The CMake files of a plugin's mirror archive, below its top folder (and a README, so none is
    empty); Orthanc's own branches need no files: nothing is read from them."""
    files = {"README": f"{archive.name}\n".encode()}
    if archive.name.startswith(CFG.components["orthanc"].branch("")):
        return files
    with tarfile.open(archive) as tar:
        for member in tar:
            name = member.name.split("/", 1)[-1]
            if member.isfile() and (name.endswith(".cmake") or name.rsplit("/", 1)[-1] == "CMakeLists.txt"):
                files[name] = tar.extractfile(member).read()
    return files


@contextmanager
def hg_serve(root: Path):
    """`hg serve` of every repository under root, at http://127.0.0.1:<port>/<name>/."""
    conf = root / "web.conf"
    conf.write_text(f"[paths]\n/ = {root}/*\n")
    port = free_port()
    server = subprocess.Popen(["hg", "serve", "--web-conf", str(conf), "-a", "127.0.0.1", "-p", str(port),
                               "-E", str(root / "errors.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=HG_SERVE_ENV)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=20).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "hg serve did not answer"
                assert server.poll() is None, "hg serve stopped"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Upstream's repositories, one named branch per mirror archive, served by hg on 127.0.0.1."""
    assert shutil.which("hg"), "hg is missing: provisioning installs Debian's mercurial"
    root = tmp_path_factory.mktemp("upstream")
    by_prefix = {c.branch_template.split("{version}")[0]: repository_name(c.repository)
                 for c in CFG.components.values()}
    for branch in mirror_branches():
        prefix = next((p for p in by_prefix if branch.startswith(p)), None)
        if prefix is None:
            continue
        repo = root / by_prefix[prefix]
        if not repo.is_dir():
            hg("init", str(repo))
        add_branch(repo, branch, cmake_files(mirror() / f"{branch}.tar.gz"))
    SERVER_LOGS.append(root / "errors.log")
    with hg_serve(root) as url:
        yield url


SERVER_LOGS: list[Path] = []  # hg serve's error logs, quoted when a listing fails


def server_errors() -> str:
    return "".join(f"\nhg serve errors:\n{log.read_text()[-3000:]}" for log in SERVER_LOGS if log.is_file())


def versions_copy(folder: Path, served_url: str | None, without_newest=False, repositories=None) -> Path:
    """versions.toml in ``folder``, its repositories on the local server, maybe without its newest set."""
    text = TEXT
    for name, component in CFG.components.items():
        url = (repositories or {}).get(name)
        if url is None and served_url:
            url = f"{served_url}{repository_name(component.repository)}/"
        if url:
            text = text.replace(f'repository = "{component.repository}"\n', f'repository = "{url}"\n')
    if without_newest:
        text = drop_set(text, NEWEST.name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "versions.toml"
    path.write_text(text)
    return path


def drop_set(text: str, name: str) -> str:
    """The text without set ``name``'s table (and the blank lines above it); default_set moved off it."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f'[sets."{name}"]\n')
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    while start and not lines[start - 1].strip():
        start -= 1
    text = "".join(lines[:start] + lines[end:])
    remaining = [s.name for s in CFG.sorted_sets() if s.name != name]
    return text.replace(f'default_set = "{name}"', f'default_set = "{remaining[-1]}"')


def run(*args: str, module=("-m", "tools.release_sets")) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def clones(tmp_path_factory) -> Path:
    """The sources folder whose .hg-cache/ the tests share: cloned once, pulled by later runs."""
    return tmp_path_factory.mktemp("sources")


def source_args(source: str, clones: Path) -> list[str]:
    if source == "mirror":
        return ["--mirror", str(mirror())]
    return ["--sources-dir", str(clones)]


def listed(stdout: str) -> dict[str, list[str]]:
    """Component -> the versions a `releases` listing shows, in its order."""
    found: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        header = re.match(r"^(\w+) \(", line)
        if header:
            current = found.setdefault(header.group(1), [])
        elif current is not None and re.match(r"^  [0-9]", line):
            current.append(line.split()[0])
    return found


@pytest.mark.parametrize("source", SOURCES)
def test_releases_lists_every_components_archives_newest_first(source, served, clones, tmp_path):
    copy = versions_copy(tmp_path / "project", served if source == "hg" else None)
    proc = run("releases", "--config", str(copy), *source_args(source, clones))
    assert proc.returncode == 0, proc.stdout + proc.stderr + server_errors()
    assert listed(proc.stdout) == upstream_versions()
    for name, pin in NEWEST.pins.items():
        assert re.search(rf"^  {re.escape(pin.version)} +pinned by .*\b{re.escape(NEWEST.name)}\b", proc.stdout,
                         re.M), (name, proc.stdout)
    if source == "hg":  # postgresql and mysql from one repository, one clone
        assert len(list((clones / ".hg-cache").iterdir())) == 6


def test_the_sessions_list_and_find_nothing_newer_than_the_newest_set(tmp_path):
    copy = versions_copy(tmp_path / "project", None)
    proc = run("-s", "releases", "--", "--config", str(copy), "--mirror", str(mirror()), module=("-m", "nox"))
    assert proc.returncode == 0, proc.stderr
    assert listed(proc.stdout) == upstream_versions()
    proc = run("-s", "propose", "--", "--config", str(copy), "--mirror", str(mirror()), "--dry-run",
               module=("-m", "nox"))
    assert proc.returncode == 0, proc.stderr
    assert f"set {NEWEST.name} already pins the newest release of every component: nothing to propose" \
        in proc.stdout
    assert copy.read_text() == TEXT


@pytest.mark.parametrize("source", SOURCES)
def test_the_newest_set_pins_the_newest_releases(source, served, clones, tmp_path):
    copy = versions_copy(tmp_path / "project", served if source == "hg" else None)
    before = copy.read_bytes()
    proc = run("propose", "--config", str(copy), *source_args(source, clones))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (f"set {NEWEST.name} already pins the newest release of every component: "
                           "nothing to propose\n")
    assert copy.read_bytes() == before


@pytest.mark.parametrize("source", SOURCES)
def test_a_proposal_matches_the_newest_archives_and_touches_nothing_else(source, served, clones, tmp_path):
    copy = versions_copy(tmp_path / "project", served if source == "hg" else None, without_newest=True)
    before = copy.read_text()
    dry = run("propose", "--config", str(copy), "--dry-run", *source_args(source, clones))
    assert dry.returncode == 0, dry.stderr
    assert copy.read_text() == before
    proc = run("propose", "--config", str(copy), *source_args(source, clones))
    assert proc.returncode == 0, proc.stderr
    after = copy.read_text()

    # One insertion; every other byte where it was.
    ops = [op for op in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes() if op[0] != "equal"]
    assert len(ops) == 1 and ops[0][0] == "insert", ops
    inserted = after[ops[0][3]:ops[0][4]]
    assert f'[sets."{NEWEST.name}"]' in inserted
    diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), "a/versions.toml",
                                        "b/versions.toml"))
    assert diff in dry.stdout  # the dry run showed this very change

    # The new set is the one upstream's newest archives make, and the one the project pins.
    new = config.load(copy).release_set(NEWEST.name)
    newest = {name: versions[0] for name, versions in upstream_versions().items()}
    assert {name: pin.version for name, pin in new.pins.items()} == newest
    assert newest == {name: pin.version for name, pin in NEWEST.pins.items()}
    assert new.base == NEWEST.base
    assert list(tomllib.loads(after)["sets"])[-1] == NEWEST.name
    assert f"# nox -s build-{NEWEST.name}-amd64" in proc.stdout
    assert f"  nox -s manifest -- {NEWEST.name}\n" in proc.stdout


@pytest.mark.parametrize("source", SOURCES)
def test_a_combination_that_cannot_build_is_refused(source, served, clones, tmp_path):
    copy = versions_copy(tmp_path / "project", served if source == "hg" else None, without_newest=True)
    before = copy.read_bytes()
    older = upstream_versions()["orthanc"][1]
    proc = run("propose", "--config", str(copy), "--pin", f"orthanc={older}", *source_args(source, clones))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: refused, this set cannot build: ")
    dicomweb = NEWEST.pins["dicomweb"].version
    assert f"dicomweb {dicomweb} needs Orthanc {NEWEST.pins['orthanc'].version} or newer (CMakeLists.txt: " \
           f"ORTHANC_FRAMEWORK_DEFAULT_VERSION), the set has Orthanc {older}" in proc.stderr
    assert copy.read_bytes() == before


def test_an_unreachable_repository_is_one_line_and_the_others_are_listed(served, clones, tmp_path):
    port = free_port()  # bound and released: nobody listens there
    dead = f"http://127.0.0.1:{port}/orthanc-wsi/"
    copy = versions_copy(tmp_path / "project", served, repositories={"wsi": dead})
    proc = run("releases", "--config", str(copy), *source_args("hg", clones))
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("wsi")]
    assert len(lines) == 1 and lines[0].startswith(f"wsi: {dead} not reachable (")
    expected = upstream_versions()
    del expected["wsi"]
    assert listed(proc.stdout) == expected

    # A proposal says which source it could not reach and keeps that component's pin.
    copy = versions_copy(tmp_path / "other", served, without_newest=True, repositories={"wsi": dead})
    template = CFG.sorted_sets()[-2]
    proc = run("propose", "--config", str(copy), "--dry-run", *source_args("hg", clones))
    assert proc.returncode == 0, proc.stderr
    kept = template.pins["wsi"].version
    assert f"warning: wsi: {dead} not reachable (" in proc.stderr and f"; wsi {kept} is not checked" in proc.stderr
    assert re.search(rf"^  wsi +{re.escape(kept)}  \(kept from set {template.name}: {re.escape(dead)} not reachable",
                     proc.stdout, re.M), proc.stdout


def test_the_clone_is_pulled_again_on_the_next_run(tmp_path):
    root = tmp_path / "upstream"
    repo = root / "orthanc-gdcm"
    hg("init", str(repo))
    oldest = upstream_versions()["gdcm"][-1]
    add_branch(repo, f"OrthancGdcm-{oldest}", {"CMakeLists.txt": b"project(OrthancGdcm)\n"})
    with hg_serve(root) as url:
        dead = f"http://127.0.0.1:{free_port()}/"  # the other components: not asked upstream
        repositories = {name: dead for name in CFG.components}
        repositories["gdcm"] = f"{url}orthanc-gdcm/"
        copy = versions_copy(tmp_path / "project", None, repositories=repositories)
        args = ("releases", "--config", str(copy), "--sources-dir", str(tmp_path / "sources"))
        first = listed(run(*args).stdout)["gdcm"]
        assert first == [oldest]
        add_branch(repo, "OrthancGdcm-99.1", {"CMakeLists.txt": b"project(OrthancGdcm)\n"})
        second = run(*args)
    assert listed(second.stdout)["gdcm"] == ["99.1", oldest]
    assert "  99.1  new: newer than every pin" in second.stdout
