"""Every external program the tools and ``./bootstrap`` start on the host, and where it comes from.

This table is the one list: provisioning installs the package of every program whose package is
not part of Debian's minimal install, in the step named here, and a test checks that the code of
``tools/`` and ``./bootstrap`` starts no program that is not listed (tests/test_programs.py), and
that the minimal ones are in a minimal Debian and the others in their packages
(tests/integration/test_fresh_machine.py).  Programs run inside images (``du`` in ``images``) are
not the host's and are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The package of a program that every Debian system has (``debootstrap --variant=minbase``:
#: the Essential and required packages).
MINIMAL = ""


@dataclass(frozen=True)
class Program:
    name: str
    package: str  # the Debian package that ships it, or MINIMAL
    step: str  # who installs the package: a provisioning step, or "bootstrap"
    why: str


PROGRAMS = (
    Program("sh", MINIMAL, "", "./bootstrap itself"),
    Program("apt-get", MINIMAL, "", "installs packages; fetches Debian source packages"),
    Program("dpkg-query", MINIMAL, "", "tells which packages are installed"),
    Program("cmp", MINIMAL, "", "./bootstrap: whether the requirements changed"),
    Program("id", MINIMAL, "", "./bootstrap: whether it runs as root"),
    Program("rm", MINIMAL, "", "./bootstrap: removes a half-made virtual environment"),
    Program("cp", MINIMAL, "", "./bootstrap: keeps the installed requirements"),
    Program("dirname", MINIMAL, "", "./bootstrap: the folder it is in"),
    Program("dpkg-deb", MINIMAL, "", "provisioning's --simulate: what a package ships"),
    Program("tar", MINIMAL, "", "packs a debootstrap root for docker import"),
    Program("mount", MINIMAL, "", "mounts binfmt_misc"),
    Program("python3", "python3-minimal", "bootstrap", "the tools, nox and the tests"),
    Program("docker", "docker-cli", "docker", "every build, push, inspection and container"),
    Program("dockerd", "docker.io", "docker", "the Docker engine, started when it is not running"),
    Program("update-binfmts", "binfmt-support", "qemu", "registers qemu for foreign platforms"),
    Program("docker-registry", "docker-registry", "registry", "the local registry"),
    Program("debootstrap", "debootstrap", "base images", "makes the base images"),
    Program("dpkg-source", "dpkg-dev", "sources", "unpacks Debian source packages"),
    Program("hg", "mercurial", "sources", "clones sources from Orthanc's Mercurial repositories"),
    Program("git", "git", "sources", "the revision and origin of this clone, for image labels"),
)

BY_NAME = {program.name: program for program in PROGRAMS}


def packages(step: str) -> list[str]:
    """The packages a provisioning step installs for the programs the tools run."""
    return sorted({p.package for p in PROGRAMS if p.step == step and p.package != MINIMAL})
