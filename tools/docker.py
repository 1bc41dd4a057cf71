"""The one door to Docker: every docker, buildx and imagetools command of the tools runs here, and
what Docker reports is read here (an image's platforms, whether it exists, its size, its labels).

A command that changes something is echoed as ``+ cmd`` before it runs, as the build runner
does; a question (inspect, port, logs) is not.  Provisioning's logged runner echoes and logs the
docker commands of its steps (import, push of the base images) itself and runs them here.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import IO

from .errors import last_line


def run(args: list[str], *, echo: bool = False, capture: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """``docker <args>``: text, output captured unless ``capture`` is False."""
    cmd = ["docker", *args]
    if echo:
        print("+ " + shlex.join(cmd), flush=True)
    if capture and "stdout" not in kwargs:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return execute(cmd, text=True, **kwargs)


def execute(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """A whole docker command line, as a caller that echoes and logs it itself has it (provisioning's
    logged steps); ``subprocess.run``'s keywords."""
    if cmd[:1] != ["docker"]:
        raise ValueError(f"not a docker command: {cmd[:1]}")
    return subprocess.run(cmd, **kwargs)


def answers(args: list[str]) -> bool:
    """Whether ``docker <args>`` succeeds (the engine, a plugin, a context, an image is there)."""
    try:
        return run(args).returncode == 0
    except OSError:
        return False


def stream(cmd: list[str], stdout: int | IO = sys.stdout.fileno()) -> subprocess.Popen:
    """Start a rendered build command (``buildx.command``), its progress on a pipe, in its own
    session so that an interruption can stop it and its children."""
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=stdout, start_new_session=True)


# --- what Docker reports ------------------------------------------------------------------


def platforms_in(index: dict) -> set[str]:
    """OCI platforms of an image index or manifest list, attestations left out (pure)."""
    found = set()
    for manifest in index.get("manifests", []):
        plat = manifest.get("platform") or {}
        if plat.get("os") in (None, "unknown"):
            continue
        found.add("/".join(x for x in (plat.get("os"), plat.get("architecture"), plat.get("variant")) if x))
    return found


def manifest_of(ref: str) -> dict | None:
    """The raw manifest (or index) of a pushed image; None if it is not in the registry."""
    result = run(["buildx", "imagetools", "inspect", "--raw", ref])
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return None


def image_digest(ref: str) -> str | None:
    """The digest of a pushed image (its index for a multi-platform one); None if it is not in the registry."""
    result = run(["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", ref])
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout).get("digest")
    except (json.JSONDecodeError, AttributeError):
        return None


def registry_platforms(ref: str) -> set[str] | None:
    """Platforms a pushed image provides; None if it is not in the registry.  A single-platform
    manifest names its platform in its config only: it is trusted as tagged ('?')."""
    data = manifest_of(ref)
    if data is None:
        return None
    return platforms_in(data) if "manifests" in data else {"?"}


def image_present(ref: str, platform: str | None = None) -> bool:
    """Whether the engine has the image (for the platform, else at all)."""
    if platform and answers(["image", "inspect", "--platform", platform, ref]):
        return True
    return answers(["image", "inspect", ref])


def label(ref: str, key: str) -> str:
    """A label of a local image ('' when it has none)."""
    proc = run(["image", "inspect", "--format", "{{index .Config.Labels \"" + key + "\"}}", ref])
    value = proc.stdout.strip() if proc.returncode == 0 else ""
    return "" if value == "<no value>" else value


def is_context(name: str) -> bool:
    """Whether ``name`` is a docker context (a builder of its docker driver) rather than a buildx builder."""
    return answers(["context", "inspect", name])


def size_bytes(ref: str, platform: str) -> int | None:
    """Disk space of the image's root file system, measured inside it (``du -sxk /``).

    The size is what the image occupies unpacked on a host, which is what the size goals
    are about; a foreign platform's image runs under qemu for the few seconds this takes.
    """
    proc = run(["run", "--rm", "--platform", platform, "--user", "root", "--entrypoint", "du", ref, "-sxk", "/"])
    if proc.returncode != 0:
        return None
    try:
        return int(proc.stdout.split()[0]) * 1024
    except (IndexError, ValueError):
        return None


def file_in(ref: str, platform: str, path: str) -> str | None:
    """A file of an image, read in a container of it (under qemu when foreign); None if it cannot be."""
    proc = run(["run", "--rm", "--platform", platform, "--user", "root", "--entrypoint", "cat", ref, path])
    return proc.stdout if proc.returncode == 0 else None


def script_in(ref: str, script: str, mounts: dict[str, str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``sh -c script`` in a container of the image (the host's platform), as root, with host
    folders mounted read-only (host path -> container path) and the environment given."""
    args = ["run", "--rm", "--user", "root", "--entrypoint", "sh"]
    for host, inside in mounts.items():
        args += ["--volume", f"{host}:{inside}:ro"]
    for name, value in env.items():
        args += ["--env", f"{name}={value}"]
    return run([*args, ref, "-c", script])


# --- registry, cache, containers ------------------------------------------------------------


def login(registry: str, user: str, password: str) -> subprocess.CompletedProcess:
    """``docker login``, the password on standard input: never on a command line."""
    return run(["login", registry, "--username", user, "--password-stdin"], input=password)


def load_and_push(archive: str, tags: list[str], push: bool) -> str | None:
    """Load a build's OCI archive into the engine (the image keeps its digests) and push its tags
    when asked: the one error line, or None."""
    proc = run(["load", "--input", archive])
    if proc.returncode != 0:
        return f"docker load of {archive}: {last_line(proc.stderr, 'failed')}"
    for tag in tags if push else []:
        proc = run(["push", "--quiet", tag])
        if proc.returncode != 0:
            return f"docker push {tag}: {last_line(proc.stderr, 'failed')}"
    return None


def create_index(tags: list[str], sources: list[str], dry_run: bool = False) -> bool:
    """``imagetools create``: one multi-platform tag (or several) from pushed images, echoed (and only
    echoed in a dry run).  It accepts the attestation indexes buildx pushes (``docker manifest`` does not)."""
    args = ["buildx", "imagetools", "create"]
    for tag in tags:
        args += ["--tag", tag]
    if dry_run:
        print("+ " + shlex.join(["docker", *args, *sources]), flush=True)
        return True
    return run([*args, *sources], echo=True, capture=False).returncode == 0


def cache_mounts() -> str:
    """BuildKit's cache mounts (``buildx du --verbose``)."""
    return run(["buildx", "du", "--verbose", "--filter", "type=exec.cachemount"]).stdout


def prune_cache(record: str | None = None) -> None:
    """Drop BuildKit's cache mounts: all of them, or the record with this id."""
    run(["buildx", "prune", "--force", "--filter", f"id={record}" if record else "type=exec.cachemount"])


def start_container(args: list[str]) -> subprocess.CompletedProcess:
    """``docker run -d <args>``."""
    return run(["run", "-d", *args])


def published_port(container: str, port: str) -> str:
    return run(["port", container, port]).stdout


def container_running(container: str) -> bool:
    return run(["inspect", "-f", "{{.State.Running}}", container]).stdout.strip() == "true"


def container_logs(container: str, tail: int = 60) -> str:
    proc = run(["logs", "--tail", str(tail), container])
    return proc.stdout + proc.stderr


def remove_container(container: str) -> None:
    run(["rm", "-f", container])
