"""Helpers for tests against the real Docker engine, buildx, qemu and local registry.

These tests need `nox -s provision` (or ./bootstrap) to have run; they fail,
never skip, when the engine or the registry is not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.docker import platforms_in

ROOT = Path(__file__).resolve().parents[2]
# `hg serve` imports its modules lazily, and requests served at once by its threads race on those
# imports: a 500 answer, and a module left half-loaded for the server's life.  Eager imports in tests.
HG_SERVE_ENV = dict(os.environ, HGDEMANDIMPORT="disable")
FIXTURE = ROOT / "tests" / "fixture"
REGISTRY = "127.0.0.1:5000"
INDEX_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def registry_get(path: str, accept: str | None = None):
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{path}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def tags(repository: str) -> set[str]:
    data = registry_get(f"{repository}/tags/list")
    return set((data or {}).get("tags") or [])


def platforms(repository: str, tag: str) -> set[str]:
    """OCI platforms of a pushed tag (attestation manifests left out)."""
    index = registry_get(f"{repository}/manifests/{tag}", INDEX_TYPES)
    assert index is not None, f"{repository}:{tag} not in the registry"
    return platforms_in(index)


def tools_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "tools", *args], cwd=ROOT, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"tools {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="session", autouse=True)
def engine_and_registry():
    """Fail early and clearly when the host was not provisioned."""
    proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    assert proc.returncode == 0, "no Docker engine: run `nox -s provision` first"
    assert registry_get("") is not None, f"no registry on {REGISTRY}: run `nox -s provision` first"


@pytest.fixture(scope="session")
def namespace():
    """A namespace of its own for each test run, so runs never see each other's tags. The run's
    images leave the engine's image store at the end (each run's would otherwise pile up)."""
    name = f"it{int(time.time())}"
    yield name
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                            capture_output=True, text=True).stdout.split()
    ours = [ref for ref in listed if ref.split("/")[-2:-1] and ref.split("/")[-2].split("-")[0] == name]
    if ours:
        subprocess.run(["docker", "rmi", "--force", *ours], capture_output=True)


class Fixture:
    """Builds of tests/fixture/Dockerfile with tests/fixture/versions.toml."""

    def __init__(self, namespace: str, results: Path):
        self.namespace = namespace
        self.results = results

    def build(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return tools_cli("build", "--config", str(FIXTURE / "versions.toml"),
                         "--dockerfile", str(FIXTURE / "Dockerfile"), "--results", str(self.results),
                         "--namespace", self.namespace, *args, check=check)

    def manifest(self, *args: str) -> subprocess.CompletedProcess:
        return tools_cli("manifest", "--config", str(FIXTURE / "versions.toml"), "--namespace", self.namespace, *args)

    def records(self) -> list[dict]:
        from tools.running import results
        found, damaged = results.read(self.results)
        assert not damaged
        return found

    def repo(self, image: str) -> str:
        return f"{self.namespace}/{image}"


@pytest.fixture(scope="session")
def fixture_builds(namespace, tmp_path_factory):
    return Fixture(namespace, tmp_path_factory.mktemp("results") / "builds.jsonl")
