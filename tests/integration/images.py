"""The default set's real images, for the tests of how they run: each built once per test session
(from the build cache when only runtime files changed), and started with any `docker run` options, on
top of tools/running/smoke.py's client and readiness check.

amd64 in the suite; ORTHANC_TEST_PLATFORM (and ORTHANC_TEST_SET) point the same tests at another
platform's image, run under qemu: the emulated smoke sessions do that with the plugins' checks."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from tools.configuration import config
from tools.running import results, smoke
from tools.cli import DEFAULT_CONFIG

from .conftest import tools_cli

CFG = config.load(DEFAULT_CONFIG)
SET = os.environ.get("ORTHANC_TEST_SET") or CFG.settings.default_set
VERSION = CFG.sets[SET].pins["orthanc"].version
ARCH = os.environ.get("ORTHANC_TEST_PLATFORM") or "amd64"
PLATFORM = CFG.platforms[ARCH]
#: Seconds Orthanc gets to answer after its start: more under emulation (qemu is 5-10 times slower).
READY_SECONDS = 120 if ARCH == "amd64" else 600
IMAGES = ("orthanc", "orthanc-plugins")
#: Orthanc's log lines of errors ("E1129 16:36:30.66 ...").
ERROR_LINE = re.compile(r"^E\d{4} ", re.M)


def version() -> tuple[int, ...]:
    """The set's Orthanc version as numbers, (1, 13, 0)."""
    return tuple(int(part) for part in VERSION.split("."))


def ref(image: str) -> str:
    return f"{CFG.settings.registry}/{CFG.settings.namespace}/{image}:{SET}-{ARCH}"


#: Set by the smoke sessions: check the image that is there, never build one.
PREBUILT = os.environ.get("ORTHANC_TEST_PREBUILT") == "1"


@functools.cache
def built(image: str) -> str:
    """Build the image of the set for the platform (once per session) and return its reference."""
    assert not PREBUILT, f"no {ref(image)} here to check: build it first (nox -s build-{SET}-{ARCH})"
    extra = ["--max-parallel", "2"] if image == "orthanc-plugins" else []
    with tempfile.TemporaryDirectory(prefix="images-") as tmp:
        path = Path(tmp) / "builds.jsonl"
        tools_cli("build", "--set", SET, "--platform", ARCH, "--image", image, "--cache-registry", *extra,
                  "--results", str(path), check=True)
        records, damaged = results.read(path)
    assert not damaged and records[-1]["status"] == "ok", records[-1:]
    return ref(image)


def defaults(image: str) -> set[str]:
    """What /plugins lists with no switch set."""
    return smoke.expected_plugins(image, [])


def plugin_files(image: str) -> set[str]:
    """The plugins in the image's plugin folder, by file name without lib and .so (Housekeeper)."""
    out = docker("run", "--rm", "--platform", PLATFORM, "--entrypoint", "ls", image,
                 "/usr/share/orthanc/plugins").stdout
    return {name[3:-3] for name in out.split() if name.startswith("lib") and name.endswith(".so")}


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def logs(container: smoke.Container) -> str:
    proc = docker("logs", container.id, check=False)
    return proc.stdout + proc.stderr


def start(image: str, env: dict[str, str] | None = None, options: list[str] | tuple = (),
          command: list[str] | tuple = ()) -> smoke.Container:
    """`docker run -d` with 8042 published on a free local port, extra options and a command."""
    cmd = ["run", "-d", "--platform", PLATFORM, "-p", "127.0.0.1::8042"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    cid = docker(*cmd, *options, image, *command).stdout.strip()
    port = docker("port", cid, "8042/tcp", check=False).stdout
    try:
        return smoke.Container(cid, int(port.strip().splitlines()[0].rsplit(":", 1)[1]))
    except (IndexError, ValueError):
        text = docker("logs", cid, check=False)
        docker("rm", "-f", cid, check=False)
        raise AssertionError(f"{image}: exited at once:\n{text.stdout}{text.stderr}") from None


@contextlib.contextmanager
def running(image: str, env: dict[str, str] | None = None, user: str = "", password: str = "",
            options: list[str] | tuple = (), command: list[str] | tuple = (), seconds: float = READY_SECONDS):
    """A started container once Orthanc answers: yields (client, container); removed after."""
    container = start(image, env, options, command)
    try:
        client = smoke.Client(f"http://127.0.0.1:{container.port}", user, password)
        smoke.wait_ready(client, container, seconds)
        yield client, container
    finally:
        container.stop()


def plugins(client: smoke.Client) -> set[str]:
    """/plugins without the core's own entry for the Explorer."""
    return set(client.json("GET", "/plugins")) - {"explorer.js"}


def upload(client: smoke.Client, data: bytes | None = None) -> dict:
    if data is None:
        data, _ = smoke.make_dicom()
    return client.json("POST", "/instances", data, content_type="application/dicom")


def with_private_tags(data: bytes, tags: dict[tuple[int, int], tuple[str, str]], creator: str,
                      group: int) -> bytes:
    """The DICOM file with a private creator (group,0010) and private elements added."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    ds.add_new((group, 0x0010), "LO", creator)
    for tag, (vr, value) in tags.items():
        ds.add_new(tag, vr, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def health(container: smoke.Container) -> str:
    return docker("inspect", "-f", "{{.State.Health.Status}}", container.id).stdout.strip()


def wait_healthy(container: smoke.Container, seconds: float = 60) -> float:
    """Seconds until Docker reports the container healthy."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        status = health(container)
        if status == "healthy":
            return time.monotonic() - began
        assert status in ("starting", ""), f"health {status}: {health_log(container)}"
        time.sleep(0.5)
    raise AssertionError(f"not healthy within {seconds:.0f}s: {health_log(container)}")


def health_log(container: smoke.Container) -> list:
    out = docker("inspect", "-f", "{{json .State.Health}}", container.id).stdout
    return (json.loads(out) or {}).get("Log", [])
