"""Make a Debian host ready to build: Docker engine, buildx, qemu, registry, base images.

Idempotent: each step first looks whether its work is already done, and prints
what it does.  A machine that already runs Docker is used as it is; its
configuration is only checked, never rewritten.

- Docker engine 26 and buildx 0.13 come from Debian trixie, pinned low, so that
  only ``docker.io``, ``docker-cli``, ``docker-buildx`` (and ``containerd``)
  come from there; an install that would upgrade any package of the base
  system is refused before it starts.
  On a trixie host they come from its own suite.
- qemu-user-static from the host's own suite, registered with binfmt_misc.
- The packages of every program the tools run (tools/provisioning/programs.py): git,
  mercurial, dpkg-dev, ...; and the database servers and browser the tests use.
- Debian's ``docker-registry`` serves the local registry (127.0.0.1:5000).
- Base images: where ``base_registry`` is the local registry, each distribution
  is made with ``debootstrap --variant=minbase`` for each platform, imported,
  pushed, and joined into one multi-platform tag.

Each step's commands write their output to one log under /var/log; a step that
fails says so in one line, with the log to read.  ``--simulate`` installs and
changes nothing: it shows what each step's ``apt-get install`` would install
(``--simulate``, with a private copy of apt's lists) and checks that the
package of every program the tools run ships that program.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

from .. import docker
from ..errors import EXIT_FAILED, FatalError, last_line, one_line, tell
from ..configuration import config as config_mod
from . import programs
from ..configuration.config import SUPPORTED_PLATFORMS, ConfigError
from ..configuration.matrix import host_platform

TRIXIE_SOURCES = Path("/etc/apt/sources.list.d/orthanc-images-trixie.sources")
TRIXIE_PIN = Path("/etc/apt/preferences.d/orthanc-images-trixie")
DAEMON_JSON = Path("/etc/docker/daemon.json")
STATE_DIR = Path("/var/lib/orthanc-images")
REGISTRY_CONFIG = STATE_DIR / "registry.yml"
REGISTRY_DATA = Path("/var/lib/docker-registry")
LOG_DIR = Path("/var/log")
#: Where the commands of every step write their output.
LOG = LOG_DIR / "orthanc-images-provision.log"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: What each step installs with apt: the packages of the programs the tools run (tools/provisioning/programs.py),
#: and what goes with them.
APT_STEPS = {
    "docker": (*programs.packages("docker"), "docker-buildx"),
    "qemu": ("qemu-user-static", *programs.packages("qemu")),
    "sources": tuple(programs.packages("sources")),
    # Database servers the smoke tests of the plugins image start (not as services), a headless
    # browser for the Orthanc Explorer test and the plugins' web applications, `docker compose` for
    # the compose example's test, and the clients and converters that make the plugin tests' data:
    # DCMTK (`storescu`), GDCM (`gdcmconv`), libtiff (`tiffcp`, `tiffinfo`, `tiff2rgba`).
    "test services": ("postgresql", "mariadb-server", "chromium", "docker-compose", "dcmtk", "libgdcm-tools",
                      "libtiff-tools"),
    "registry": tuple(programs.packages("registry")),
    "base images": tuple(programs.packages("base images")),
}
DOCKER_PACKAGES = APT_STEPS["docker"]
#: The suite Docker 26 and buildx 0.13 come from (pinned low on an older host).
DOCKER_SUITE = "trixie"
#: Packages of other steps that come from Docker's suite wherever Docker does: bookworm's
#: docker-compose is the old standalone program, not the `docker compose` plugin.
WITH_DOCKER = ("docker-compose",)


class ProvisionError(FatalError):
    """A step that cannot be done, in one line; ``log`` is where its commands wrote."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log


def say(message: str) -> None:
    print(f"provision: {message}", flush=True)


#: The log of this run (--log).
current_log = LOG


def sh(cmd: list[str], *, check: bool = True, quiet: bool = False, log: Path | None = None,
       **kwargs) -> subprocess.CompletedProcess:
    """Run a command; its output goes to ``log`` (default: this run's) unless ``stdout`` is given."""
    if not quiet:
        print("+ " + shlex.join(cmd), flush=True)
    handle = None
    log = log or current_log
    if "stdout" not in kwargs:
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log, "a")
        handle.write(f"\n+ {shlex.join(cmd)}\n")
        handle.flush()
        kwargs.update(stdout=handle, stderr=subprocess.STDOUT)
    else:
        log = kwargs.pop("log_name", None)
    try:
        result = (docker.execute(cmd, text=True, **kwargs) if cmd[0] == "docker"
                  else subprocess.run(cmd, text=True, **kwargs))
    except FileNotFoundError:
        raise ProvisionError(f"{cmd[0]} is not installed", log) from None
    finally:
        if handle:
            handle.close()
    if check and result.returncode != 0:
        raise ProvisionError(f"{shlex.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''} failed "
                             f"(exit {result.returncode})", log)
    return result


def ok(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def apt_env() -> dict:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


# --- apt -----------------------------------------------------------------------


def apt_installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return result.returncode == 0 and "install ok installed" in result.stdout


_apt_updated = False


def apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        sh(["apt-get", "update", "-q"], env=apt_env())
        _apt_updated = True


def host_release() -> str:
    """The host's Debian major version (``12`` on bookworm)."""
    try:
        return Path("/etc/debian_version").read_text().strip().split(".")[0]
    except OSError:
        return ""


def host_suite(os_release: str | None = None) -> str:
    """The host's Debian code name (``bookworm``), from /etc/os-release; '' when unknown."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text()
        except OSError:
            return ""
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip().strip('"')
    return ""


def docker_from_other_suite(suite: str | None = None) -> bool:
    """Whether Docker comes from DOCKER_SUITE, pinned low (bookworm), rather than the host's suite."""
    return (host_suite() if suite is None else suite) == "bookworm"


def docker_packages(suite: str | None = None) -> list[str]:
    """The Docker packages as apt is asked for them on this host."""
    if docker_from_other_suite(suite):
        return [f"{p}/{DOCKER_SUITE}" for p in DOCKER_PACKAGES]
    return list(DOCKER_PACKAGES)


def suite_packages(packages, suite: str | None = None) -> list[str]:
    """A step's packages as apt is asked for them on this host (WITH_DOCKER's from Docker's suite)."""
    if docker_from_other_suite(suite):
        return [f"{p}/{DOCKER_SUITE}" if p in WITH_DOCKER else p for p in packages]
    return list(packages)


def upgrades_in(simulation: str, allowed: set[str], release: str | None = None) -> list[str]:
    """Installed packages an ``apt-get -s install`` would replace from another Debian release.

    Lines look like ``Inst libc6 [2.36-9] (2.41-12 Debian:13.8/stable [amd64])``: a bracketed old
    version means an installed package would change.  Updates of the host's own release
    (``Debian:12.x``, ``Debian-Security:12``) are fine; anything from another release is not,
    except the allowed packages.
    """
    release = host_release() if release is None else release
    found = []
    for line in simulation.splitlines():
        match = re.match(r"^Inst (\S+) \[([^\]]+)\] \((\S+) (\S+)", line)
        if not match or match.group(1).split(":")[0] in allowed:
            continue
        origin = re.match(r"^[A-Za-z-]+:(\d+)", match.group(4))
        if release and origin and origin.group(1) == release:
            continue  # a point or security update of the host's own release
        found.append(f"{match.group(1)} {match.group(2)} -> {match.group(3)}")
    return found


def installed_by(simulation: str) -> list[str]:
    """The packages an ``apt-get -s install`` would install or upgrade."""
    return [line.split()[1] for line in simulation.splitlines() if line.startswith("Inst ")]


def apt_install(packages: list[str] | tuple[str, ...], *, allowed_upgrades: set[str] = frozenset()) -> None:
    missing = [p for p in packages if not apt_installed(p.split("/")[0])]
    if not missing:
        return
    apt_update()
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    simulation = subprocess.run([*cmd[:2], "-s", *cmd[2:]], capture_output=True, text=True, env=apt_env())
    if simulation.returncode != 0:
        reason = last_line(simulation.stderr)
        raise ProvisionError(f"apt cannot install {' '.join(missing)}: {reason}")
    risky = upgrades_in(simulation.stdout, allowed_upgrades | {p.split("/")[0] for p in packages})
    if risky:
        raise ProvisionError("refusing to install " + " ".join(missing) + ": it would upgrade installed "
                             "packages of the base system: " + ", ".join(risky[:8]))
    say(f"installing {' '.join(missing)} (log: {current_log})")
    sh(cmd, env=apt_env())


# --- Docker engine -----------------------------------------------------------------


def docker_running() -> bool:
    return docker.answers(["info"])


TRIXIE_SOURCE_TEXT = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n"
                      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
TRIXIE_PIN_TEXT = "Package: *\nPin: release n=trixie\nPin-Priority: 100\n"


def ensure_docker_suite() -> None:
    """Docker's suite as an apt source, pinned low, on a host that takes Docker from there."""
    global _apt_updated
    if not TRIXIE_SOURCES.exists():
        TRIXIE_SOURCES.write_text(TRIXIE_SOURCE_TEXT)
        say(f"wrote {TRIXIE_SOURCES}")
        _apt_updated = False
    if not TRIXIE_PIN.exists():
        TRIXIE_PIN.write_text(TRIXIE_PIN_TEXT)
        say(f"wrote {TRIXIE_PIN} (trixie packages only when asked for by name)")


def ensure_docker_packages() -> None:
    if shutil.which("dockerd") and docker.answers(["buildx", "version"]):
        return
    if docker_from_other_suite():
        say("installing Docker engine and buildx from Debian trixie (pinned low)")
        ensure_docker_suite()
        global _apt_updated
        _apt_updated = False
    else:
        say("installing Docker engine and buildx")
    apt_install(docker_packages(), allowed_upgrades={"containerd", "runc"})


def ensure_daemon_config() -> None:
    """Enable the containerd image store (multi-platform images with the docker driver)."""
    current = {}
    if DAEMON_JSON.exists():
        try:
            current = json.loads(DAEMON_JSON.read_text() or "{}")
        except json.JSONDecodeError as exc:
            raise ProvisionError(f"{DAEMON_JSON}: not valid JSON ({exc}); fix it by hand") from None
    if current.get("features", {}).get("containerd-snapshotter") is True:
        return
    current.setdefault("features", {})["containerd-snapshotter"] = True
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(json.dumps(current, indent=2) + "\n")
    say(f"enabled the containerd image store in {DAEMON_JSON}")


def start_background(cmd: list[str], log: Path) -> None:
    print("+ " + shlex.join(cmd) + f" >{log} 2>&1 &", flush=True)
    with open(log, "ab") as handle:
        subprocess.Popen(cmd, stdout=handle, stderr=handle, stdin=subprocess.DEVNULL, start_new_session=True)


def wait_for(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise ProvisionError(f"{what} did not come up within {seconds:.0f}s")


def ensure_docker() -> None:
    if docker_running():
        say("Docker is running: using it as it is (its configuration is not changed)")
        info = docker.run(["info", "--format", "{{json .DriverStatus}}"]).stdout
        if "io.containerd.snapshotter" not in info:
            say("note: the containerd image store is off; multi-platform --load needs it "
                "(set features.containerd-snapshotter in daemon.json and restart dockerd)")
        if not docker.answers(["buildx", "version"]):
            raise ProvisionError("Docker runs but the buildx plugin is missing; install docker-buildx")
        return
    ensure_docker_packages()
    ensure_daemon_config()
    start_background(["dockerd"], LOG_DIR / "dockerd.log")
    wait_for(docker_running, "dockerd")
    say("dockerd is up")


# --- qemu / binfmt --------------------------------------------------------------------


BINFMT = Path("/proc/sys/fs/binfmt_misc")


def ensure_qemu(cfg, platforms: list[str]) -> None:
    foreign = [p for p in platforms if p != host_platform()]
    if not foreign:
        return
    apt_install(APT_STEPS["qemu"])
    if not (BINFMT / "status").exists():
        sh(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    for name in foreign:
        qemu = SUPPORTED_PLATFORMS[cfg.platforms[name]].qemu
        entry = BINFMT / qemu
        if not entry.exists() or "enabled" not in entry.read_text():
            sh(["update-binfmts", "--enable", qemu])
        if "flags: " not in entry.read_text() or "F" not in entry.read_text().split("flags: ")[1].split()[0]:
            raise ProvisionError(f"{entry}: registered without the F flag; containers cannot use it")
    say("qemu binfmt ready for " + ", ".join(foreign))


# --- local registry -----------------------------------------------------------------


def registry_up(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def is_local(address: str) -> bool:
    host = address.split("/")[0].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


def ensure_registry(address: str) -> None:
    if registry_up(address):
        say(f"registry {address} is up")
        return
    apt_install(APT_STEPS["registry"])
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    REGISTRY_CONFIG.write_text(
        "version: 0.1\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {REGISTRY_DATA}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n")
    start_background(["docker-registry", "serve", str(REGISTRY_CONFIG)], LOG_DIR / "docker-registry.log")
    wait_for(lambda: registry_up(address), f"registry {address}")
    say(f"registry {address} is up")


# --- base images ------------------------------------------------------------------------


def image_platforms(ref: str) -> set[str]:
    """Platforms present under a tag in a registry (empty if absent)."""
    return docker.registry_platforms(ref) or set()


def debootstrap_image(suite: str, arch: str, oci: str, ref: str, mirror: str) -> str:
    """Make one base image with debootstrap, import it and push it as <ref>-<arch>."""
    arch_ref = f"{ref}-{arch}"
    with tempfile.TemporaryDirectory(prefix=f"base-{suite}-{arch}-") as tmp:
        root = Path(tmp) / "rootfs"
        log = LOG_DIR / f"debootstrap-{suite}-{arch}.log"
        say(f"debootstrap {suite} for {arch} (log: {log})")
        with open(log, "w") as handle:
            sh(["debootstrap", "--variant=minbase", f"--arch={SUPPORTED_PLATFORMS[oci].debian_arch}", suite,
                str(root), mirror], stdout=handle, stderr=subprocess.STDOUT, log_name=log)
        # As in Debian's slim images: no package caches, lists or documentation.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                    "usr/share/info", "var/log"):
            target = root / sub
            if target.exists():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        for cache in (root / "var/cache/apt").glob("*.bin"):
            cache.unlink()
        # Keep later image layers small: no package caches, no downloaded .deb files kept.
        (root / "etc/apt/apt.conf.d/90-container-slim").write_text(
            'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\nAPT::Keep-Downloaded-Packages "false";\n')
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        sh(["docker", "import", "--platform", oci, "-", arch_ref], stdin=tar.stdout)
        if tar.wait() != 0:
            raise ProvisionError(f"tar of the {suite} {arch} root failed")
    sh(["docker", "push", "--quiet", arch_ref])
    return arch_ref


def ensure_base_images(cfg, dists: list[str], platforms: list[str], mirror: str, base_registry: str) -> None:
    apt_install(APT_STEPS["base images"])
    for dist in dists:
        ref = f"{base_registry.rstrip('/')}/{cfg.distributions[dist]}"
        suite = dist
        wanted = {cfg.platforms[p]: p for p in platforms}
        present = image_platforms(ref)
        missing = [p for oci, p in wanted.items() if oci not in present]
        if not missing:
            say(f"base image {ref} has {', '.join(sorted(present))}")
            continue
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(missing)) as pool:
            futures = [pool.submit(debootstrap_image, suite, p, cfg.platforms[p], ref, mirror) for p in missing]
            made = [future.result() for future in futures]
        # The platforms already there keep their per-platform tags from an earlier run.
        kept = [f"{ref}-{p}" for p in platforms if p not in missing]
        sh(["docker", "buildx", "imagetools", "create", "--tag", ref, *made, *kept])
        say(f"base image {ref} now has {', '.join(sorted(image_platforms(ref)))}")


# --- simulation --------------------------------------------------------------------------


def _apt_private(state: Path) -> list[str]:
    """apt options for a private copy of the host's sources (plus Docker's suite) and lists."""
    parts, prefs = state / "sources.list.d", state / "preferences.d"
    for folder in (parts, prefs, state / "lists" / "partial", state / "cache" / "archives" / "partial"):
        folder.mkdir(parents=True, exist_ok=True)
    for source, target in ((Path("/etc/apt/sources.list.d"), parts), (Path("/etc/apt/preferences.d"), prefs)):
        if source.is_dir():
            for item in source.iterdir():
                if item.is_file():
                    shutil.copy(item, target / item.name)
    if docker_from_other_suite():
        (parts / TRIXIE_SOURCES.name).write_text(TRIXIE_SOURCE_TEXT)
        (prefs / TRIXIE_PIN.name).write_text(TRIXIE_PIN_TEXT)
    return ["-o", f"Dir::Etc::SourceParts={parts}", "-o", f"Dir::Etc::PreferencesParts={prefs}",
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
            "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"]


def simulate(log: Path) -> int:  # noqa: C901 - one pass over the steps, then over the programs
    """Show what each step's apt-get install would install, and check that the package of every
    program the tools run ships it; install and change nothing (apt's lists go to a temporary folder)."""
    failed = False
    with tempfile.TemporaryDirectory(prefix="provision-simulate-") as tmp:
        state = Path(tmp)
        options = _apt_private(state)
        sh(["apt-get", *options, "update", "-q"], env=apt_env(), log=log)
        requests = {step: docker_packages() if step == "docker" else suite_packages(packages)
                    for step, packages in APT_STEPS.items()}
        for step, packages in requests.items():
            proc = sh(["apt-get", *options, "install", "-s", "-q", "--no-install-recommends", *packages],
                      env=apt_env(), check=False, quiet=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if proc.returncode != 0:
                reason = last_line(proc.stderr)
                print(f"error: provision: step '{step}': apt cannot install {' '.join(packages)}: {reason}",
                      file=sys.stderr)
                failed = True
                continue
            print(f"simulate {step}: {' '.join(packages)} -> installs {' '.join(installed_by(proc.stdout))}",
                  flush=True)
        # The package apt would install for each program (from the same suite), and where it puts it.
        wanted = {p.name: next(r for r in requests.get(p.step, [p.package]) if r.split("/")[0] == p.package)
                  for p in programs.PROGRAMS if p.package != programs.MINIMAL}
        debs = state / "debs"
        debs.mkdir()
        sh(["apt-get", *options, "download", "-q", *sorted(set(wanted.values()))], cwd=debs, log=log, quiet=True)
        for name, request in sorted(wanted.items()):
            package = request.split("/")[0]
            deb = next(debs.glob(f"{package}_*.deb"), None)
            listing = sh(["dpkg-deb", "--contents", str(deb)], quiet=True, stdout=subprocess.PIPE).stdout \
                if deb else ""
            paths = [line.split()[5].lstrip(".") for line in listing.splitlines() if len(line.split()) >= 6]
            found = [path for path in paths if path in (f"/usr/bin/{name}", f"/usr/sbin/{name}", f"/bin/{name}",
                                                        f"/sbin/{name}")]
            if found:
                print(f"simulate program {name}: {found[0]} in {package}", flush=True)
            else:
                print(f"error: provision: program '{name}' is not in package {package}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


# --- entry point ------------------------------------------------------------------------ ------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.provision", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[2] / "versions.toml")
    p.add_argument("--dist", action="append", dest="dists", metavar="NAME",
                   help="base distribution(s) to make locally (default: those the sets use)")
    p.add_argument("--platform", action="append", dest="platforms", metavar="ARCH",
                   help="platforms to prepare (default: all in versions.toml)")
    p.add_argument("--no-base-images", action="store_true", help="skip making base images")
    p.add_argument("--mirror", default=DEBIAN_MIRROR, help="Debian mirror for debootstrap (default: %(default)s)")
    p.add_argument("--simulate", action="store_true",
                   help="install nothing: show what each step's apt-get install would install, and check that "
                        "every program the tools run is in its package")
    p.add_argument("--log", type=Path, default=LOG, help="where the steps' commands write (default: %(default)s)")
    return p


def steps(cfg, args, platforms: list[str], dists: list[str]) -> list[tuple[str, object]]:
    """The steps of provisioning, in order: (name, what it does)."""
    registries = {cfg.settings.registry}
    base_registry = cfg.settings.base_registry
    local_base = bool(base_registry) and is_local(base_registry)
    if local_base:
        registries.add(base_registry.split("/")[0])

    def registry() -> None:
        for address in sorted(registries):
            if is_local(address):
                ensure_registry(address)

    def base_images() -> None:
        if local_base:
            ensure_base_images(cfg, dists, platforms, args.mirror, base_registry)
        else:
            say(f"base images come from {base_registry or 'Docker Hub'}: nothing to make")

    def test_services() -> None:
        packages = suite_packages(APT_STEPS["test services"])
        if packages != list(APT_STEPS["test services"]):
            ensure_docker_suite()
        apt_install(packages)

    found = [
        ("docker", ensure_docker),
        ("qemu", lambda: ensure_qemu(cfg, platforms)),
        ("sources", lambda: apt_install(APT_STEPS["sources"])),
        ("test services", test_services),
        ("registry", registry),
    ]
    if not args.no_base_images:
        found.append(("base images", base_images))
    return found


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
        platforms = args.platforms or list(cfg.platforms)
        for name in platforms:
            if name not in cfg.platforms:
                raise ConfigError(f"--platform: unknown platform '{name}' (known: {', '.join(cfg.platforms)})")
        if args.dists == ["all"]:
            dists = sorted({s.base for s in cfg.sets.values()})
        else:
            dists = args.dists or [cfg.sets[cfg.settings.default_set].base]
        for name in dists:
            if name not in cfg.distributions:
                raise ConfigError(f"--dist: unknown distribution '{name}' (known: {', '.join(cfg.distributions)})")
    except FatalError as exc:
        return tell(exc)
    if os.geteuid() != 0:
        print("error: provision: run as root (it installs packages and starts daemons)", file=sys.stderr)
        return 1
    global current_log
    log = current_log = args.log
    plan = [("simulate", lambda: simulate(log))] if args.simulate else steps(cfg, args, platforms, dists)
    for name, action in plan:
        try:
            if action():
                return 1
        except KeyboardInterrupt:
            print(f"provision: interrupted in step '{name}'", file=sys.stderr)
            return 130
        except FatalError as exc:
            where = getattr(exc, "log", None) or log
            print(f"error: provision: step '{name}' failed: {exc} (log: {where})", file=sys.stderr)
            return exc.exit_code
        except Exception as exc:  # noqa: BLE001 - a user sees one line; the log keeps the traceback
            try:
                with open(log, "a") as handle:
                    handle.write(f"\nstep '{name}' failed:\n{traceback.format_exc()}")
            except OSError:
                pass
            reason = one_line(str(exc)) or type(exc).__name__
            print(f"error: provision: step '{name}' failed: {reason} (log: {log})", file=sys.stderr)
            return 1
    if not args.simulate:
        say("ready")
    return 0

