"""Pushing to a registry that wants a password: credentials from the environment, never leaked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings

import pytest

with warnings.catch_warnings():  # bcrypt for htpasswd; Python 3.11 still has crypt
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

from .conftest import FIXTURE, ROOT

PORT = 5001
USER = "builder"
PASSWORD = "pw-" + os.urandom(6).hex()


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory):
    """Debian's docker-registry with htpasswd (bcrypt) auth on 127.0.0.1:5001, for this module."""
    base = tmp_path_factory.mktemp("private-registry")
    (base / "htpasswd").write_text(f"{USER}:{crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (base / "config.yml").write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{PORT}\n"
        f"auth:\n  htpasswd:\n    realm: test\n    path: {base / 'htpasswd'}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(base / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/v2/", timeout=2)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "private registry did not start"
        time.sleep(0.3)
    yield f"127.0.0.1:{PORT}"
    subprocess.run(["docker", "logout", f"127.0.0.1:{PORT}"], capture_output=True)
    proc.terminate()
    proc.wait(timeout=10)


def build(registry, results, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_USER", "REGISTRY_PASSWORD")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "tools", "build", "--config", str(FIXTURE / "versions.toml"),
         "--dockerfile", str(FIXTURE / "Dockerfile"), "--results", str(results), "--registry", registry,
         "--set", "2.0.0", "--platform", "amd64", "--image", "orthanc", "--push"],
        cwd=ROOT, capture_output=True, text=True, env=env)


def test_push_without_credentials_fails_and_is_recorded(private_registry, tmp_path):
    subprocess.run(["docker", "logout", private_registry], capture_output=True)
    proc = build(private_registry, tmp_path / "builds.jsonl", {})
    assert proc.returncode == 1
    assert "failed" in (tmp_path / "builds.jsonl").read_text()


def test_credentials_from_the_environment_are_used_and_never_shown(private_registry, tmp_path):
    results = tmp_path / "builds.jsonl"
    proc = build(private_registry, results, {"REGISTRY_USER": USER, "REGISTRY_PASSWORD": PASSWORD})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"logging in to {private_registry} as {USER}" in proc.stdout
    everything = [proc.stdout, proc.stderr, results.read_text()]
    everything += [p.read_text(errors="replace") for p in (tmp_path / "logs").iterdir()]
    ref = f"{private_registry}/fixture/orthanc:2.0.0-amd64"
    everything.append(subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True).stdout)
    everything.append(subprocess.run(["docker", "image", "history", "--no-trunc", ref],
                                     capture_output=True, text=True).stdout)
    for text in everything:
        assert PASSWORD not in text


def test_half_given_credentials_are_refused(private_registry, tmp_path):
    proc = build(private_registry, tmp_path / "builds.jsonl", {"REGISTRY_USER": USER})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: set both REGISTRY_USER and REGISTRY_PASSWORD, or neither"
    assert not (tmp_path / "builds.jsonl").exists()
