"""requirements.txt, what ./bootstrap installs: requirements.in's pins and what they need, each hashed.

The lock is made and checked with the real pip, on wheels made here and offered by a folder of its
own (no index, no configuration of this machine's pip); the project's own files are read as they are.
tests/integration/test_fresh_machine.py installs them on fresh bookworm and trixie machines and checks
them for every host.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools.errors import FatalError
from tools.provisioning import requirements

ROOT = Path(__file__).resolve().parent.parent
HOSTS = (requirements.Host("bookworm", "3.11", 36, "x86_64"), requirements.Host("trixie", "3.13", 41, "aarch64"))


def test_the_project_s_requirements_are_locked_from_requirements_in():
    requirements.consistent(ROOT / "requirements.in", ROOT / "requirements.txt")
    locked = requirements.pins((ROOT / "requirements.txt").read_text())
    assert {"nox", "pytest", "numpy", "pluggy"} <= set(locked)  # what the pins need is pinned too
    text = (ROOT / "bootstrap").read_text()
    assert "--require-hashes -r requirements.txt" in text


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> str:
    """A pure-Python wheel; its sha256."""
    info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                 + "".join(f"Requires-Dist: {r}\n" for r in requires),
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}

    def digest(text: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(text)},{len(text)}\n" for path, text in files.items())
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A folder of wheels, the only place pip looks."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    return wheels


def test_a_lock_pins_and_hashes_what_the_pins_need_and_pip_installs_it_so(index, tmp_path):
    alpha = _wheel(index, "alpha", "1.0", ("beta>=2",))
    _wheel(index, "beta", "2.0")
    beta = _wheel(index, "beta", "2.1")
    wanted = tmp_path / "requirements.in"
    wanted.write_text("# what we need\nalpha==1.0\n")
    locked = tmp_path / "requirements.txt"
    locked.write_text(requirements.render(requirements.lock(wanted, HOSTS)))
    text = locked.read_text()
    assert f"alpha==1.0 \\\n    --hash=sha256:{alpha}\n" in text
    assert f"beta==2.1 \\\n    --hash=sha256:{beta}\n" in text  # the newest, pinned
    requirements.check(wanted, locked, HOSTS)

    # pip itself, as ./bootstrap runs it, installs what the file says and refuses a file whose hash is not there.
    target = tmp_path / "installed"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--require-hashes", "--target", str(target),
                           "-r", str(locked)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in target.glob("*.dist-info")) == ["alpha-1.0.dist-info", "beta-2.1.dist-info"]
    locked.write_text(text.replace(beta, "0" * 64))
    with pytest.raises(FatalError, match=r"pip cannot install requirements.txt on bookworm \(Python 3.11, x86_64\): "
                                         r"ERROR: THESE PACKAGES DO NOT MATCH THE HASHES"):
        requirements.check(wanted, locked, HOSTS)


def test_a_lock_that_falls_behind_its_pins_or_lacks_a_hash_is_told_in_one_line(tmp_path):
    wanted, locked = tmp_path / "requirements.in", tmp_path / "requirements.txt"
    wanted.write_text("alpha==1.1\n")
    locked.write_text("alpha==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\nbeta==2.0\n")
    with pytest.raises(FatalError, match=r"has alpha==1.0, requirements.in alpha==1.1: run python -m tools"):
        requirements.consistent(wanted, locked)
    wanted.write_text("alpha==1.0\n")
    with pytest.raises(FatalError, match=r"requirements.txt: no hash for beta$"):
        requirements.consistent(wanted, locked)
    wanted.write_text("alpha>=1.0\n")
    with pytest.raises(FatalError, match=r"line 1: not a pinned package \(name==version\): alpha>=1.0"):
        requirements.consistent(wanted, locked)


def test_a_package_no_host_has_a_wheel_for_is_told_in_one_line(index, tmp_path):
    _wheel(index, "alpha", "1.0", ("gamma",))
    wanted = tmp_path / "requirements.in"
    wanted.write_text("alpha==1.0\n")
    with pytest.raises(FatalError, match=r"^requirements: pip cannot install requirements.in on bookworm "
                                         r"\(Python 3.11, x86_64\): ERROR: .*gamma"):
        requirements.lock(wanted, HOSTS)


def test_the_command_writes_nothing_and_says_one_line_on_bad_input(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.requirements", "--bogus"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
