"""Real database servers for the plugin smoke tests: Debian's PostgreSQL and MariaDB, started by the
test in a temporary folder on a free port, listening where containers reach the host, stopped after."""

from __future__ import annotations

import contextlib
import glob
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

USER, DATABASE = "orthanc", "orthanc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"no database server on port {port} after {seconds:.0f}s")


def run(cmd: list[str], **kw) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
    return proc.stdout


@dataclass
class Server:
    kind: str
    port: int
    password: str
    query: Callable[[str], str]

    def orthanc_config(self, host: str) -> dict:
        return {"EnableIndex": True, "EnableStorage": True, "Host": host, "Port": self.port,
                "Database": DATABASE, "Username": USER, "Password": self.password, "Lock": False}


@contextlib.contextmanager
def postgresql(password: str):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "Debian's PostgreSQL is missing: run `nox -s provision`"
    bindir = Path(found[-1]).parent
    # The server runs as the postgres user: a folder it can reach, not pytest's private one.
    with tempfile.TemporaryDirectory(prefix="orthanc-pg-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)
        with _postgresql(bindir, tmp, password) as server:
            yield server


@contextlib.contextmanager
def _postgresql(bindir: Path, tmp: Path, password: str):
    data = tmp / "pg"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
         "--auth-host=scram-sha-256"])
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
    port = free_port()
    log = tmp / "pg.log"
    log.touch()
    shutil.chown(log, "postgres", "postgres")
    run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start",
         "-o", f"-p {port} -c listen_addresses='*' -k {data}"])
    try:
        psql = [*as_postgres, str(bindir / "psql"), "-h", str(data), "-p", str(port), "-U", "postgres", "-tA"]
        run([*psql, "-c", f"CREATE USER {USER} WITH PASSWORD '{password}'"])
        run([*psql, "-c", f"CREATE DATABASE {DATABASE} OWNER {USER}"])

        def query(sql: str) -> str:
            return run([*psql, "-d", DATABASE, "-c", sql]).strip()

        yield Server("postgresql", port, password, query)
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)


@contextlib.contextmanager
def mariadb(password: str):
    assert shutil.which("mariadbd"), "Debian's MariaDB is missing: run `nox -s provision`"
    with tempfile.TemporaryDirectory(prefix="orthanc-mariadb-") as name:
        with _mariadb(Path(name), password) as server:
            yield server


@contextlib.contextmanager
def _mariadb(tmp: Path, password: str):
    data, sock = tmp / "mariadb", tmp / "mariadb.sock"
    data.mkdir()
    run(["mariadb-install-db", "--user=root", f"--datadir={data}", "--auth-root-authentication-method=socket",
         "--skip-test-db"])
    port = free_port()
    log = open(tmp / "mariadb.log", "w")
    proc = subprocess.Popen(["mariadbd", "--user=root", f"--datadir={data}", f"--socket={sock}",
                             f"--port={port}", "--bind-address=0.0.0.0", "--skip-log-bin",
                             f"--pid-file={tmp / 'mariadb.pid'}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        client = ["mariadb", f"--socket={sock}", "-u", "root", "-N", "-B"]
        run([*client, "-e", f"CREATE DATABASE {DATABASE}; CREATE USER '{USER}'@'%' IDENTIFIED BY '{password}'; "
                            f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'%';"])

        def query(sql: str) -> str:
            return run([*client, DATABASE, "-e", sql]).strip()

        yield Server("mariadb", port, password, query)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

