"""The Python packages ./bootstrap installs into .venv, locked.

``requirements.in`` names what the tools and the tests need, pinned.  ``requirements.txt``, what
``./bootstrap`` installs, is written from it: those packages and every package they need, each
pinned, each with the sha256 of the wheel it installs on every host ./bootstrap serves (Debian
bookworm's Python 3.11 and trixie's 3.13, on amd64 and arm64).  A file with hashes puts pip in its
hash-checking mode: it installs no file whose hash is not listed, and no package that is not listed.

``python -m tools.requirements`` resolves requirements.in with pip for each of those hosts in turn
(each later one held to the versions the earlier ones chose, so all get the same versions) and
writes requirements.txt; ``--check`` resolves requirements.txt for each of them, as pip would install
it there, and writes nothing.  Both ask the package index pip is set up with; nothing is installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CAUGHT, FatalError, Parser, tell

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS_IN = ROOT / "requirements.in"
REQUIREMENTS = ROOT / "requirements.txt"
#: The hosts' Pythons and glibc versions: (suite, Python version, glibc minor version).
SUITES = (("bookworm", "3.11", 36), ("trixie", "3.13", 41))
#: The hosts' machines, as wheels name them.
MACHINES = ("x86_64", "aarch64")
HEADER = """\
# What ./bootstrap installs into .venv: written by `.venv/bin/python -m tools.requirements` from
# requirements.in, not by hand.  Every package is pinned, with the sha256 of its wheels for
# Debian bookworm (Python 3.11) and trixie (Python 3.13) on x86_64 and aarch64: pip installs
# nothing else (--require-hashes).
"""


@dataclass(frozen=True)
class Host:
    suite: str
    python: str
    glibc: int
    machine: str

    def __str__(self) -> str:
        return f"{self.suite} (Python {self.python}, {self.machine})"

    def pip_options(self) -> list[str]:
        """pip's options that choose wheels for this host, whatever machine pip runs on."""
        # pip takes the manylinux tags a glibc accepts one by one: every one up to the host's.
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(self.glibc, 4, -1)]
        tags += [f"manylinux{alias}_{self.machine}" for alias in ("2014", "2010", "1")]
        return ["--only-binary", ":all:", *(f"--platform={tag}" for tag in tags),
                "--python-version", self.python, "--implementation", "cp", "--abi", f"cp{self.python.replace('.', '')}"]


HOSTS = tuple(Host(suite, python, glibc, machine) for suite, python, glibc in SUITES for machine in MACHINES)


@dataclass
class Package:
    name: str
    version: str
    requested: bool  # named in requirements.in
    hashes: set[str] = field(default_factory=set)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """The ``name==version`` lines of a requirements file (canonical names); anything else is an error."""
    found = {}
    for number, line in enumerate(re.sub(r"\\\n", " ", text).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)(\s+--hash=sha256:[0-9a-f]{64})*", line)
        if not match:
            raise FatalError(f"requirements: line {number}: not a pinned package (name==version): {line}")
        found[canonical(match.group(1))] = match.group(2)
    return found


def hashes(text: str) -> dict[str, set[str]]:
    """The sha256 of each package of a requirements file."""
    found: dict[str, set[str]] = {}
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)==", entry)
        if match:
            found[canonical(match.group(1))] = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
    return found


def resolve(host: Host, requirements: Path, constraints: dict[str, str] | None = None) -> list[dict]:
    """What pip would install on ``host`` from a requirements file: the report's ``install`` items."""
    with tempfile.TemporaryDirectory(prefix="requirements-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--target", str(Path(tmp) / "target"), "--report", str(report),
               *host.pip_options(), "-r", str(requirements)]
        if constraints:
            held = Path(tmp) / "constraints.txt"
            held.write_text("".join(f"{name}=={version}\n" for name, version in sorted(constraints.items())))
            cmd += ["-c", str(held)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")] or \
                proc.stderr.strip().splitlines() or ["no message"]
            raise FatalError(f"requirements: pip cannot install {requirements.name} on {host}: {lines[-1]}")
        return json.loads(report.read_text())["install"]


def sha256(item: dict) -> str:
    """The sha256 of the file a report item installs (pip 23.1 and later: ``hashes``; before: ``hash``)."""
    archive = item["download_info"].get("archive_info", {})
    if "sha256" in archive.get("hashes", {}):
        return archive["hashes"]["sha256"]
    algorithm, _, value = archive.get("hash", "").partition("=")
    if algorithm != "sha256" or not value:
        raise FatalError(f"requirements: the index gives no sha256 for {item['download_info']['url']}")
    return value


def lock(requirements_in: Path = REQUIREMENTS_IN, hosts=HOSTS) -> list[Package]:
    wanted = pins(requirements_in.read_text())
    packages: dict[str, Package] = {}
    for host in hosts:
        chosen = {canonical(item["metadata"]["name"]): item for item in
                  resolve(host, requirements_in, {p.name: p.version for p in packages.values()})}
        if packages and set(chosen) != set(packages):
            odd = sorted(set(chosen) ^ set(packages))
            raise FatalError(f"requirements: {', '.join(odd)}: needed on some hosts only ({host} differs)")
        for name, item in chosen.items():
            package = packages.setdefault(name, Package(name, item["metadata"]["version"], name in wanted))
            package.hashes.add(sha256(item))
    return sorted(packages.values(), key=lambda p: (not p.requested, p.name))


def render(packages: list[Package]) -> str:
    lines = [HEADER]
    for requested, title in ((True, "# requirements.in"), (False, "# what those need")):
        lines.append(f"\n{title}\n")
        for package in (p for p in packages if p.requested == requested):
            hashed = "".join(f" \\\n    --hash=sha256:{value}" for value in sorted(package.hashes))
            lines.append(f"{package.name}=={package.version}{hashed}\n")
    return "".join(lines)


def consistent(requirements_in: Path = REQUIREMENTS_IN, requirements: Path = REQUIREMENTS) -> None:
    """requirements.txt has requirements.in's pins and a hash on every line (read, nothing asked)."""
    wanted, locked = pins(requirements_in.read_text()), pins(requirements.read_text())
    hashed = hashes(requirements.read_text())
    for name, version in wanted.items():
        if locked.get(name) != version:
            raise FatalError(f"requirements: {requirements.name} has {name}=={locked.get(name, '(nothing)')}, "
                             f"{requirements_in.name} {name}=={version}: run python -m tools.requirements")
    unhashed = sorted(name for name in locked if not hashed.get(name))
    if unhashed:
        raise FatalError(f"requirements: {requirements.name}: no hash for {', '.join(unhashed)}")


def check(requirements_in: Path = REQUIREMENTS_IN, requirements: Path = REQUIREMENTS, hosts=HOSTS) -> None:
    """requirements.txt is consistent with requirements.in and pip installs it on every host."""
    consistent(requirements_in, requirements)
    for host in hosts:
        installed = resolve(host, requirements)
        print(f"{host}: {len(installed)} packages, every one hashed", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m tools.requirements", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="check requirements.txt against requirements.in and resolve it for every host")
    args = parser.parse_args(argv)
    try:
        if args.check:
            check()
            return 0
        packages = lock()
        REQUIREMENTS.write_text(render(packages))
        print(f"{REQUIREMENTS.name}: {len(packages)} packages for {len(HOSTS)} hosts")
        return 0
    except CAUGHT as exc:
        return tell(exc)
