"""The source-mirror provider: archives named as upstream's branches, checked before unpacking."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from tools.configuration import config
from tools.planning import sources

ROOT = Path(__file__).resolve().parent.parent
CFG = config.load(ROOT / "versions.toml")


def archive(top: str, files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    data = archive("Orthanc-1.13.0", {"OrthancServer/CMakeLists.txt": "project(Orthanc)\n"})
    (folder / "Orthanc-1.13.0.tar.gz").write_bytes(data)
    (folder / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  Orthanc-1.13.0.tar.gz\n")
    sources._sums_cache.clear()
    yield folder
    sources._sums_cache.clear()


def orthanc(set_name: str = "1.13.0") -> sources.PinnedSource:
    return sources.pinned_sources(CFG, CFG.sets[set_name], ["orthanc"])[0]


def test_archive_is_checked_unpacked_without_its_top_folder_and_reused(tmp_path, mirror):
    store = tmp_path / "store"
    tree = sources.fetch(store, orthanc(), ("mirror",), "1.13.0", str(mirror))
    assert tree == store / "orthanc" / "mirror-Orthanc-1.13.0"
    assert (tree / "OrthancServer" / "CMakeLists.txt").read_text() == "project(Orthanc)\n"
    # The local provider finds it again, without the mirror.
    assert sources.fetch(store, orthanc(), ("local",), "1.13.0") == tree


def test_file_url_works_like_a_folder(tmp_path, mirror):
    tree = sources.fetch(tmp_path / "store", orthanc(), ("mirror",), "1.13.0", mirror.as_uri())
    assert (tree / "OrthancServer").is_dir()


def test_a_checksum_mismatch_stops_before_unpacking_and_leaves_nothing(tmp_path, mirror):
    (mirror / "SHA256SUMS").write_text(f"{'0' * 64}  Orthanc-1.13.0.tar.gz\n")
    store = tmp_path / "store"
    with pytest.raises(sources.SourceError) as info:
        sources.fetch(store, orthanc(), ("mirror",), "1.13.0", str(mirror))
    message = str(info.value)
    assert "\n" not in message and "checksum mismatch" in message and f"SHA256SUMS has {'0' * 64}" in message
    assert not (store / "orthanc").exists() or not any((store / "orthanc").iterdir())


def test_a_pinned_sha256_wins_over_the_mirrors_list(tmp_path, mirror):
    pinned = sources.PinnedSource(orthanc().component, config.Pin("orthanc", "1.13.0", "Orthanc-1.13.0",
                                                            sha256="1" * 64), "trixie")
    with pytest.raises(sources.SourceError, match=f"pinned {'1' * 64}"):
        sources.fetch(tmp_path / "store", pinned, ("mirror",), "1.13.0", str(mirror))


def test_an_archive_the_mirror_does_not_list_is_not_taken(tmp_path, mirror):
    (mirror / "SHA256SUMS").write_text("")
    with pytest.raises(sources.SourceError, match="Orthanc-1.13.0.tar.gz not listed in"):
        sources.fetch(tmp_path / "store", orthanc(), ("mirror",), "1.13.0", str(mirror))


def test_without_a_mirror_the_provider_says_so(tmp_path):
    with pytest.raises(sources.SourceError, match=r"mirror: no mirror given \(--mirror, \$ORTHANC_SOURCES_MIRROR"):
        sources.fetch(tmp_path / "store", orthanc(), ("mirror",), "1.13.0", "")


def test_mirror_in_force_command_line_then_environment_then_versions_toml():
    env = {sources.MIRROR_ENV: "/srv/env-mirror"}
    assert sources.mirror_location("/cli", CFG, env) == "/cli"
    assert sources.mirror_location(None, CFG, env) == "/srv/env-mirror"
    assert sources.mirror_location(None, CFG, {}) == CFG.settings.mirror


def test_every_missing_source_of_a_set_is_named_in_one_line(tmp_path, mirror):
    release = CFG.sets["1.9.0"]
    wanted = sources.pinned_sources(CFG, release, ["orthanc-plugins"])
    with pytest.raises(sources.SourceError) as info:
        sources.fetch_all(tmp_path / "store", wanted, ("local", "mirror"), "1.9.0", str(mirror))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("set '1.9.0': 7 sources not reachable: component 'orthanc' (Orthanc-1.9.0): ")
    for branch in ("OrthancPostgreSQL-3.3", "OrthancMySQL-3.0", "OrthancDicomWeb-1.5", "OrthancWSI-1.0"):
        assert f"({branch}): local: no tree under" in message
        assert f"mirror: {branch}.tar.gz not listed in {mirror.as_uri()}/SHA256SUMS" in message


def test_a_set_without_reachable_sources_stops_before_buildkit_naming_each(tmp_path, mirror):
    import subprocess
    import sys
    results = tmp_path / "builds.jsonl"
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--set", "1.9.0", "--platform", "armv7",
                           "--mirror", str(mirror), "--sources-dir", str(tmp_path / "src"),
                           "--results", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: set '1.9.0': 7 sources not reachable: ")
    for branch in ("Orthanc-1.9.0", "OrthancPostgreSQL-3.3", "OrthancMySQL-3.0", "OrthancDicomWeb-1.5",
                   "OrthancGdcm-1.2", "OrthancWebViewer-2.7", "OrthancWSI-1.0"):
        assert f"({branch}): " in proc.stderr and f"mirror: {branch}.tar.gz not listed" in proc.stderr
    assert "docker buildx build" not in proc.stdout
    assert not results.exists()
