"""A fresh Debian machine: in a container made from the local registry's base image of a distribution
(what ``debootstrap --variant=minbase`` makes, nothing more), with a copy of the repository's files:

- the programs tools/provisioning/programs.py calls part of a minimal Debian are there;
- ``./bootstrap``'s Python half (BOOTSTRAP_NO_PROVISION=1) installs python3 and python3-venv, makes
  .venv with the requirements (each file checked against its hash), lists every session ``nox -l``
  lists here and validates versions.toml; a second run installs nothing; the system's Python gets
  no package; requirements.txt resolves, hashed, for every host (``python -m tools.requirements
  --check``, in the first machine);
- provisioning's apt steps, simulated (``python -m tools.provision --simulate``), resolve, and the
  package of every program the tools run ships it.

Both suites' base images are there after ``nox -s tests`` provisioned (the default set's and the
test fixture's distributions); one that is not fails the test, it is never left out.
The containers use the host's network (Debian's mirror and PyPI), a pip cache volume that outlives
the test, and trust what pip here trusts (for networks behind a TLS-inspecting proxy).
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tools.provisioning import programs, provision

from .conftest import INDEX_TYPES, REGISTRY, ROOT, registry_get

PIP_CACHE_VOLUME = "orthanc-images-test-pip-cache"
CA_IN_CONTAINER = "/etc/ssl/certs/host-ca.pem"
#: The Debian suites the README promises ./bootstrap works on.
HOST_SUITES = ("bookworm", "trixie")


def _pip_trust() -> list[str]:
    """docker run options that give pip in the container the CA bundle pip uses here."""
    candidates = [os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"),
                  ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return ["-v", f"{Path(candidate).resolve()}:{CA_IN_CONTAINER}:ro", "-e", f"PIP_CERT={CA_IN_CONTAINER}"]
    return []


def _copy_of_the_repository(target: Path) -> Path:
    """The files of the working tree git tracks or would (not what .gitignore leaves out: no .venv, no caches)."""
    listing = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout
    for name in listing.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


class Container:
    def __init__(self, image: str, repository: Path):
        self.name = f"fresh-machine-{uuid.uuid4().hex[:8]}"
        subprocess.run(["docker", "volume", "create", PIP_CACHE_VOLUME], capture_output=True, check=True)
        proc = subprocess.run(
            ["docker", "run", "-d", "--rm", "--name", self.name, "--network", "host",
             "-v", f"{repository}:/src", "-v", f"{PIP_CACHE_VOLUME}:/root/.cache/pip", *_pip_trust(),
             "--entrypoint", "sleep", image, "infinity"], capture_output=True, text=True)
        assert proc.returncode == 0, f"docker run {image}: {proc.stderr}"

    def run(self, script: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess, float]:
        start = time.monotonic()
        proc = subprocess.run(["docker", "exec", "-w", "/src", self.name, "sh", "-c", script],
                              capture_output=True, text=True, timeout=timeout)
        return proc, time.monotonic() - start

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)


@pytest.fixture(scope="module", params=HOST_SUITES)
def machine(request, tmp_path_factory):
    suite = request.param
    image = f"{REGISTRY}/library/debian:{suite}-slim"
    assert registry_get(f"library/debian/manifests/{suite}-slim", INDEX_TYPES) is not None, \
        f"no base image {image}: run `.venv/bin/nox -s provision -- --dist {suite}`"
    container = Container(image, _copy_of_the_repository(tmp_path_factory.mktemp(f"fresh-{suite}")))
    container.suite = suite
    yield container
    container.remove()


def _sessions(listing: str) -> set[str]:
    """The session names of ``nox -l``'s listing (``* name -> doc`` or ``- name -> doc``)."""
    return {m.group(1) for m in re.finditer(r"^[*-] (\S+)", listing, re.M)}


@pytest.fixture(scope="module")
def sessions() -> set[str]:
    """Every session nox lists here, from the same noxfile and versions.toml."""
    proc = subprocess.run([sys.executable, "-m", "nox", "-l"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    names = _sessions(proc.stdout)
    assert {"validate", "tests", "provision", "build", "build-1.13.0-amd64", "build-1.10.1-armv7-sequential"} <= names
    return names


def _timed(label: str, seconds: float) -> None:
    print(f"{label}: {seconds:.0f} s")


def test_a_fresh_machine_bootstraps_and_provisioning_names_every_program(machine, sessions):
    # What a minimal Debian has.
    minimal = [p.name for p in programs.PROGRAMS if p.package == programs.MINIMAL]
    proc, _ = machine.run("for p in " + " ".join(minimal) + '; do command -v "$p" >/dev/null || echo "$p"; done')
    assert proc.returncode == 0 and proc.stdout.split() == [], f"not in a minimal Debian: {proc.stdout}"
    proc, _ = machine.run("command -v python3 || echo none")
    assert proc.stdout.strip() == "none", "the base image is not a fresh machine: it has python3"

    # ./bootstrap's Python half, as the README says, from nothing.
    proc, seconds = machine.run("BOOTSTRAP_NO_PROVISION=1 ./bootstrap -l")
    _timed("first ./bootstrap -l", seconds)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert _sessions(proc.stdout) == sessions
    assert "bootstrap: installing python3 and python3-venv" in proc.stdout
    assert "bootstrap: installing requirements.txt" in proc.stdout
    assert "Traceback" not in proc.stderr

    # A second run: nothing installed, .venv as it was.
    installed = "ls -l --time-style=+%s.%N .venv/requirements.installed; .venv/bin/python -m pip freeze --all"
    before, _ = machine.run(installed)
    proc, seconds = machine.run("BOOTSTRAP_NO_PROVISION=1 ./bootstrap -s validate")
    _timed("second ./bootstrap -s validate", seconds)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "versions.toml: " in proc.stdout and ", OK" in proc.stdout
    assert "bootstrap:" not in proc.stdout + proc.stderr, "a second run installed something"
    after, _ = machine.run(installed)
    assert before.returncode == 0 and after.stdout == before.stdout, "a second run changed .venv"

    proc, _ = machine.run(".venv/bin/nox -l")  # the README's later commands
    assert proc.returncode == 0 and "- validate " in proc.stdout, proc.stderr[-2000:]

    # The system's Python is untouched: no pip, and what the venv has it has not.
    proc, _ = machine.run("python3 -c 'import nox' 2>/dev/null && echo nox; python3 -m pip --version 2>/dev/null "
                          "&& echo pip; true")
    assert proc.stdout.split() == [], f"the system's Python got packages: {proc.stdout}"

    # Provisioning's own apt steps, simulated: every step resolves, every program is in its package.
    proc, seconds = machine.run(".venv/bin/python -m tools.provision --simulate --log /tmp/provision.log")
    _timed("provision --simulate", seconds)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for step in provision.APT_STEPS:
        assert f"simulate {step}: " in proc.stdout, step
    for program in programs.PROGRAMS:
        if program.package != programs.MINIMAL:
            assert re.search(rf"^simulate program {re.escape(program.name)}: /\S+ in {re.escape(program.package)}$",
                             proc.stdout, re.M), program.name

    # requirements.txt installs, every file hashed, on each host ./bootstrap serves (both suites, amd64 and
    # arm64): pip resolves it for each, wherever it runs, so one machine checks them all.
    if machine.suite == HOST_SUITES[0]:
        proc, seconds = machine.run(".venv/bin/python -m tools.requirements --check")
        _timed("requirements --check", seconds)
        assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        assert proc.stdout.count("packages, every one hashed") == 4, proc.stdout
