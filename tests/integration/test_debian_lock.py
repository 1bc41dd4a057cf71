"""The Debian package lock in a real build: the real Dockerfile's runtime package stage, with real
buildx and Debian's archive, downloads exactly the locked packages, and fails naming the package when
the lock says another version; the base image is taken by digest and labelled."""

from __future__ import annotations

import shutil

import pytest

from tools.configuration import config
from tools.planning import debian_lock

from .conftest import ROOT, tools_cli

CFG = config.load(ROOT / "versions.toml")
SET = CFG.settings.default_set
DISTRIBUTION = CFG.release_set(SET).base


@pytest.fixture
def clone_config(tmp_path):
    """versions.toml and versions.lock copied to a folder of the test's own (the lock is edited there)."""
    shutil.copy(ROOT / "versions.toml", tmp_path / "versions.toml")
    shutil.copy(ROOT / debian_lock.LOCK_FILE, tmp_path / debian_lock.LOCK_FILE)
    return tmp_path


def runtime_packages_stage(folder, *args: str):
    return tools_cli("build", "--config", str(folder / "versions.toml"), "--set", SET, "--platform", "armv7",
                     "--image", "orthanc", "--stage", "debs-runtime-base", "--sources-dir", str(folder / "sources"),
                     "--results", str(folder / "builds.jsonl"), *args)


def test_the_runtime_packages_are_the_locked_ones(clone_config):
    # (run again, not taken from the cache: its check is what is looked at)
    proc = runtime_packages_stage(clone_config, "--no-cache-filter", "debs-runtime-base")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"debian packages: versions.lock, {DISTRIBUTION} locked" in out
    assert "packages as locked" in out and "base image: " in out


def test_a_version_the_lock_does_not_say_fails_the_build_naming_the_package(clone_config):
    path = clone_config / debian_lock.LOCK_FILE
    locks = debian_lock.load(path)
    armhf = locks[DISTRIBUTION].packages["armhf"]
    assert "jq" in armhf, "the lock has no jq for armhf: run `nox -s lock`"
    real = armhf["jq"]
    armhf["jq"] = "0.1-1"
    path.write_text(debian_lock.render(list(locks.values())))
    proc = runtime_packages_stage(clone_config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"check-lock: jq:armhf is {real}, the lock says 0.1-1" in out
    assert "run `nox -s lock`" in out
