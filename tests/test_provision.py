"""Pure parts of host provisioning."""

from tools import provision

SIMULATION = """NOTE: This is only a simulation!
Inst runc (1.1.5+ds1-1+deb12u1 Debian:12.15/oldstable [amd64])
Inst containerd (1.7.24~ds1-6+deb13u1 Debian:13.8/stable [amd64])
Inst docker.io (26.1.5+dfsg1-9+deb13u1+b1 Debian:13.8/stable [amd64])
Inst libc6 [2.36-9+deb12u14] (2.41-12+deb13u5 Debian:13.8/stable [amd64])
Inst base-files [12.4+deb12u11] (13.8+deb13u8 Debian:13.8/stable [amd64])
Conf docker.io (26.1.5+dfsg1-9+deb13u1+b1 Debian:13.8/stable [amd64])
"""


def test_upgrades_of_the_base_system_are_found():
    assert provision.upgrades_in(SIMULATION, {"docker.io"}, "12") == [
        "libc6 2.36-9+deb12u14 -> 2.41-12+deb13u5",
        "base-files 12.4+deb12u11 -> 13.8+deb13u8",
    ]


def test_new_packages_are_not_upgrades():
    clean = "\n".join(line for line in SIMULATION.splitlines() if "[2." not in line and "[12." not in line)
    assert provision.upgrades_in(clean, set(), "12") == []


def test_updates_of_the_hosts_own_release_are_fine():
    updates = ("Inst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []\n"
               "Inst libssl3 [3.0.15-1] (3.0.17-1~deb12u2 Debian:12.13/oldstable [amd64])\n")
    assert provision.upgrades_in(updates, set(), "12") == []
    assert provision.upgrades_in(updates, set(), "13") == [
        "perl 5.36.0-7+deb12u2 -> 5.36.0-7+deb12u4", "libssl3 3.0.15-1 -> 3.0.17-1~deb12u2"]


def test_local_registry_detection():
    assert provision.is_local("127.0.0.1:5000")
    assert provision.is_local("localhost:5000/library")
    assert not provision.is_local("docker.io/library")
    assert not provision.is_local("registry.example.org:5000")
