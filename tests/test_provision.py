"""Pure parts of host provisioning, and how a failed step is reported."""

from pathlib import Path

from tools.provisioning import programs, provision

ROOT = Path(__file__).resolve().parent.parent

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


def _run_main(monkeypatch, tmp_path, capsys, action):
    monkeypatch.setattr(provision.os, "geteuid", lambda: 0)
    monkeypatch.setattr(provision, "steps", lambda cfg, args, platforms, dists: [("ready", lambda: None),
                                                                                 ("sources", action)])
    log = tmp_path / "provision.log"
    code = provision.main(["--config", str(ROOT / "tests" / "fixture" / "versions.toml"), "--log", str(log)])
    return code, capsys.readouterr().err.splitlines(), log


def test_a_failed_step_is_one_line_naming_the_step_and_its_log(monkeypatch, tmp_path, capsys):
    def fail():
        provision.sh(["sh", "-c", "echo apt says no; exit 100"])
    code, err, log = _run_main(monkeypatch, tmp_path, capsys, fail)
    assert code == 1
    assert err == [f"error: provision: step 'sources' failed: sh -c 'echo apt says no; exit 100' failed (exit 100) "
                   f"(log: {log})"]
    assert "apt says no" in log.read_text()


def test_a_missing_program_is_one_line(monkeypatch, tmp_path, capsys):
    code, err, log = _run_main(monkeypatch, tmp_path, capsys, lambda: provision.sh(["no-such-program-here"]))
    assert code == 1 and err == [f"error: provision: step 'sources' failed: no-such-program-here is not installed "
                                 f"(log: {log})"]


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(monkeypatch, tmp_path, capsys):
    def broken():
        raise KeyError("surprise")
    code, err, log = _run_main(monkeypatch, tmp_path, capsys, broken)
    assert code == 1 and err == [f"error: provision: step 'sources' failed: 'surprise' (log: {log})"]
    assert "Traceback" in log.read_text() and "KeyError" in log.read_text()


def test_every_step_installs_what_the_programs_table_says():
    for program in programs.PROGRAMS:
        if program.step not in ("", "bootstrap"):
            assert program.package in provision.APT_STEPS[program.step]
    assert "docker-buildx" in provision.DOCKER_PACKAGES
