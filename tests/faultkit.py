"""Tools for fault tests: a throwaway PostgreSQL cluster, the real service under gunicorn,
PgBouncer, and a small HTTP client. Everything listens on 127.0.0.1 only.

The cluster uses the machine's PostgreSQL binaries (Debian's /usr/lib/postgresql/N/bin, or
TEST_PG_BIN), falling back to the ones pgserver ships; as root it runs them as the
`postgres` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.core.config import PROJECT_ROOT

_reserved: dict[int, int] = {}  # port -> descriptor of its held lock file


def free_port(candidates: Sequence[int]) -> int:
    """Return the first port of `candidates` that is free, reserved for this process.

    A lock file per port keeps concurrent test runs apart: a port merely free at the time
    of the check could be taken by another run's server before ours binds it.
    """
    for port in candidates:
        if port in _reserved:
            continue
        fd = os.open(
            f"{tempfile.gettempdir()}/tasks-faults-port-{port}.lock", os.O_CREAT | os.O_RDWR
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                os.close(fd)
                continue
        _reserved[port] = fd
        return port
    raise RuntimeError(f"no free port among {candidates[0]}-{candidates[-1]}")


def release_port(port: int) -> None:
    """Let other test runs use `port` again."""
    fd = _reserved.pop(port, None)
    if fd is not None:
        os.close(fd)


def _ports(variable: str, default: range) -> range:
    # e.g. TEST_HTTP_PORTS=8170-8179, to keep a run on the ports one was given.
    first, sep, last = os.environ.get(variable, "").partition("-")
    return range(int(first), int(last) + 1) if sep else default


# Port ranges reserved for these tests (see docs/failure-handling.md). They lie below
# Linux's ephemeral range (32768-60999): a stopped server's port inside it can be picked by
# any outgoing connection meanwhile, whose TIME_WAIT then keeps the restart from binding.
HTTP_PORTS = _ports("TEST_HTTP_PORTS", range(8140, 8150))
PGBOUNCER_PORTS = _ports("TEST_PGBOUNCER_PORTS", range(6440, 6450))
POSTGRES_PORTS = _ports("TEST_POSTGRES_PORTS", range(25440, 25450))


def postgres_bin() -> Path | None:
    """Return a directory holding initdb, pg_ctl and postgres, or None."""
    explicit = os.environ.get("TEST_PG_BIN")
    if explicit:
        return Path(explicit)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if debian:
        return debian[-1].parent
    try:
        import pgserver
    except ImportError:
        return None
    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return bundled if (bundled / "initdb").exists() else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        from pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        return ["runuser", "-u", "pgserver", "--"]
    return ["runuser", "-u", "postgres", "--"]


class Cluster:
    """A PostgreSQL cluster of its own in a temporary directory, to stop, crash and freeze."""

    def __init__(self, bin_dir: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="tasks-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as = _run_as()
        self._started = False
        if self._as:
            user = self._as[2]
            shutil.chown(self.root, user=user, group=pwd.getpwnam(user).pw_gid)

    def _run(self, *argv: str | Path) -> None:
        subprocess.run([*self._as, *map(str, argv)], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        """Create the cluster (trust authentication, loopback only)."""
        self._run(
            self.bin_dir / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 60\n"
                "shared_buffers = 32MB\nfsync = off\nlog_min_messages = warning\n"
            )

    def start(self) -> None:
        """Start the server and wait until it accepts connections.

        A port taken meanwhile (by a concurrent test run) is traded for another, before the
        first start only: afterwards clients know the port, so a restart waits (up to the
        kernel's 60 s TIME_WAIT) for its port to come free.
        """
        deadline = time.monotonic() + 70
        for _ in range(100):
            try:
                self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "start")
                self._started = True
                return
            except subprocess.CalledProcessError as error:
                log = self.log.read_text() if self.log.exists() else ""
                busy = "could not bind" in log
                if self._started and busy and time.monotonic() < deadline:
                    self.log.unlink()
                    time.sleep(1)
                    continue
                if self._started or not busy:
                    message = f"pg_ctl start failed: {error.stderr!r} {log[-1500:]}"
                    raise RuntimeError(message) from error
                self.log.unlink()
                release_port(self.port)
                self.port = free_port(POSTGRES_PORTS)
                with (self.data / "postgresql.conf").open("a") as conf:
                    conf.write(f"port = {self.port}\n")
        raise RuntimeError("no free port for PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `immediate` kills it without a shutdown checkpoint, like a crash."""
        self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int:
        """Return the postmaster's process id."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def processes(self) -> list[int]:
        """Return the postmaster and its children."""
        root = self.postmaster_pid()
        return [root, *children_of(root)]

    def freeze(self) -> None:
        """Stop every server process: TCP stays up, nothing answers."""
        postmaster = self.postmaster_pid()
        os.kill(postmaster, signal.SIGSTOP)  # first, so that it starts no new backend
        for pid in children_of(postmaster):
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume every server process."""
        for pid in reversed(self.processes()):
            os.kill(pid, signal.SIGCONT)

    def url(self, database: str = "postgres") -> str:
        """Return the URL of `database` over TCP."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        """Stop the server if it runs (thawing it first) and remove its files."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.thaw()
                self.stop("immediate")
            except (OSError, subprocess.CalledProcessError, ValueError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        release_port(self.port)


def children_of(pid: int) -> list[int]:
    """Return the ids of the direct children of process `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class Reply:
    """One HTTP exchange: status (0 when the connection failed), headers, body, duration."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None
    seconds: float = 0.0
    error: str | None = None


def call(port: int, method: str, path: str, body: object = None, timeout: float = 15) -> Reply:
    """Make one request on a fresh connection; never raises for network errors."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        parsed = json.loads(raw) if raw and "json" in headers.get("content-type", "") else raw
        return Reply(
            resp.status,
            headers,
            parsed,
            time.monotonic() - started,
        )
    except (OSError, http.client.HTTPException) as error:
        return Reply(0, seconds=time.monotonic() - started, error=repr(error))
    finally:
        conn.close()


class Gunicorn:
    """The real service: `gunicorn -c gunicorn.conf.py service.wsgi:app` on 127.0.0.1."""

    def __init__(self, database_url: str, **settings: str | None) -> None:
        self.port = free_port(HTTP_PORTS)
        self.log = Path(tempfile.mkstemp(prefix="tasks-faults-gunicorn-", suffix=".log")[1])
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(
            {
                "DATABASE_URL": database_url,
                "BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": "2",
                "THREADS": "4",
                "POOL_MIN_SIZE": "1",
                "ACCESS_LOG": "",
                "LOG_LEVEL": "WARNING",
            }
        )
        # A setting given as None is left unset: gunicorn.conf.py's own default applies.
        for name, value in settings.items():
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start the master and wait until /livez answers."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            if call(self.port, "GET", "/livez", timeout=1).status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer: {self.log.read_text()[-2000:]}")

    def workers(self) -> list[int]:
        """Return the worker process ids."""
        assert self.proc is not None
        return children_of(self.proc.pid)

    def signal(self, sig: int) -> None:
        """Send `sig` to the master."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20) -> int | None:
        """Stop gracefully (SIGTERM), killing after `timeout`; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.log.unlink(missing_ok=True)
            release_port(self.port)


class PgBouncer:
    """PgBouncer in transaction pooling mode in front of one PostgreSQL server."""

    def __init__(self, host: str, port: int | str = 5432) -> None:
        self.listen_port = free_port(PGBOUNCER_PORTS)
        self.root = Path(tempfile.mkdtemp(prefix="tasks-pgbouncer-"))
        self._as = _run_as()
        if self._as and host.startswith("/"):
            # A Unix socket directory: run as its owner, who alone may enter it.
            self._as = ["runuser", "-u", pwd.getpwuid(Path(host).stat().st_uid).pw_name, "--"]
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.listen_port}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {self.root}/userlist.txt\n"
            "pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 20\n"
            "server_login_retry = 1\n"
            f"logfile = {self.root}/pgbouncer.log\npidfile = {self.root}/pgbouncer.pid\n"
            "ignore_startup_parameters = extra_float_digits\nadmin_users = postgres\n"
        )
        if self._as:
            user = self._as[2]
            shutil.chown(self.root, user=user)
            for path in self.root.iterdir():
                shutil.chown(path, user=user)
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def executable() -> str | None:
        """Return the path of the pgbouncer program, if installed."""
        return shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
        )

    def start(self, timeout: float = 10) -> None:
        """Start PgBouncer and wait until it accepts connections."""
        program = self.executable()
        assert program, "pgbouncer is not installed"
        self.proc = subprocess.Popen(
            [*self._as, program, str(self.root / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.listen_port)) == 0:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self.root / "pgbouncer.log"
        raise RuntimeError(f"pgbouncer did not start: {log.read_text() if log.exists() else ''}")

    def stop(self) -> None:
        """Stop PgBouncer and remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        release_port(self.listen_port)
