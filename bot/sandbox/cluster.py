"""Several `swbot run` instances behind nginx on one PostgreSQL, fed by the Bot API stand-in's
webhook delivery: what the scale-out end-to-end test and the capacity benchmarks run.

Everything is started the way an operator would (README, "Running at scale"), in a directory of
its own and on free ports, never touching the machine's own services:

- :func:`postgres_database`: a database of its own on a PostgreSQL server (created, then dropped);
- :class:`Nginx`: Debian's nginx binary with ``deploy/nginx``'s upstream and webhook files, only
  the ports changed, in the foreground;
- :class:`Instances`: ``deploy/swbot-instances K BASE_PORT``, the instances' pids and ports read
  from what it prints; :meth:`Instances.kill` SIGKILLs one, :meth:`Instances.stop` SIGTERMs the
  script (which passes it on: each instance drains and exits 0).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
WEBHOOK_PATH = "/telegram/webhook"
_INSTANCE_LINE = re.compile(r"swbot-instances: instance 127\.0\.0\.1:(\d+) pid (\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(count: int) -> int:
    """A base port B such that B+1 … B+count are free now (for swbot-instances)."""
    for _ in range(200):
        base = free_port()
        if base + count >= 65000:
            continue
        try:
            for port in range(base + 1, base + count + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} free consecutive ports")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def swbot_binary() -> str | None:
    """The `swbot` console script of this interpreter's environment."""
    path = Path(sys.executable).with_name("swbot")
    return str(path) if path.exists() else shutil.which("swbot")


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def healthz(port: int) -> int:
    """The status of http://127.0.0.1:port/healthz (0: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


# -- PostgreSQL ------------------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


@asynccontextmanager
async def postgres_database(server_url: str, prefix: str = "swbot_e2e") -> AsyncIterator[str]:
    """A fresh database on the server `server_url` points at; yields its URL, drops it after."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(server_url, name)
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# -- nginx ------------------------------------------------------------------------------------------


def upstream_conf(ports: list[int]) -> str:
    """deploy/nginx/swbot-upstream.conf with one `server` line per port (options kept)."""
    text = (DEPLOY / "nginx" / "swbot-upstream.conf").read_text()
    server = re.compile(r"^(\s*)server\s+127\.0\.0\.1:\d+(\s[^\n]*)?;$", re.MULTILINE)
    found = server.search(text)
    if found is None:
        raise ValueError("deploy/nginx/swbot-upstream.conf has no `server 127.0.0.1:PORT` line")
    indent, options = found.group(1), (found.group(2) or "").rstrip()
    lines = "\n".join(f"{indent}server 127.0.0.1:{p}{options};" for p in ports)
    text = server.sub("", text)
    return text[: found.start()] + lines + text[found.start():]


class Nginx:
    """nginx in the foreground with the deploy configuration, listening on 127.0.0.1:`port`."""

    def __init__(self, workdir: Path, upstream_ports: list[int], *, port: int | None = None) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        self.binary = binary
        self.dir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        (workdir / "temp").mkdir(parents=True, exist_ok=True)
        (workdir / "swbot-upstream.conf").write_text(upstream_conf(upstream_ports))
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach this directory
        (workdir / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format swbot '$msec|$status|$upstream_addr|$upstream_status|$request_time';
    access_log {workdir}/access.log swbot;
    client_body_temp_path {workdir}/temp/body;
    proxy_temp_path {workdir}/temp/proxy;
    fastcgi_temp_path {workdir}/temp/fastcgi;
    uwsgi_temp_path {workdir}/temp/uwsgi;
    scgi_temp_path {workdir}/temp/scgi;
    include {workdir}/swbot-upstream.conf;
    server {{
        listen 127.0.0.1:{self.port};
        location = {WEBHOOK_PATH} {{
            include {DEPLOY}/nginx/swbot-webhook.conf;
        }}
        location / {{
            return 404;
        }}
    }}
}}
""")

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def start(self) -> None:
        args = [self.binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log")]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True)  # noqa: S603 (nginx, our files)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the configuration: {check.stderr.strip()}")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

        def listening() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.dir / 'error.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(listening, 10, "nginx to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the requests it has
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _log(self) -> list[list[str]]:
        """The access log's records: [time, status, upstream addresses, their statuses, duration]."""
        log = self.dir / "access.log"
        return [line.split("|") for line in log.read_text().splitlines()] if log.exists() else []

    def upstream_counts(self) -> dict[str, int]:
        """Requests answered 200, per instance that answered them (a request passed on after a
        failure counts for the last one)."""
        counts: dict[str, int] = {}
        for record in self._log():
            if len(record) >= 3 and record[1] == "200":
                answered = record[2].split(",")[-1].strip()
                counts[answered] = counts.get(answered, 0) + 1
        return counts

    def passed_on(self) -> int:
        """Requests nginx had to pass to another instance (the first refused, dropped or 503)."""
        return sum(1 for record in self._log() if len(record) >= 3 and "," in record[2])

    def statuses(self) -> dict[str, int]:
        """How many requests nginx answered with each status."""
        counts: dict[str, int] = {}
        for record in self._log():
            if len(record) >= 2:
                counts[record[1]] = counts.get(record[1], 0) + 1
        return counts


# -- the instances ---------------------------------------------------------------------------------


class Instances:
    """`deploy/swbot-instances K BASE` with `env` (every SWBOT_ setting but SWBOT_LISTEN)."""

    def __init__(self, count: int, env: dict[str, str], workdir: Path, *, base_port: int | None = None) -> None:
        self.count = count
        self.base = base_port if base_port is not None else free_port_range(count)
        self.ports = [self.base + i for i in range(1, count + 1)]
        self.env = env
        self.dir = workdir
        self.log_path = workdir / f"instances-{self.base}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pids: dict[int, int] = {}  # port → pid

    def start(self, timeout: float = 120) -> None:
        swbot = swbot_binary()
        if swbot is None:
            raise RuntimeError("the swbot console script is not installed (pip install -e .)")
        env = {**self.env, "SWBOT_BIN": swbot}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (deploy/swbot-instances)
                [str(DEPLOY / "swbot-instances"), str(self.count), str(self.base)],
                env=env, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.proc is not None
            text = self.log_path.read_text(errors="replace")
            self.pids = {int(port): int(pid) for port, pid in _INSTANCE_LINE.findall(text)}
            if "swbot-instances: ready:" in text:
                return True
            if self.proc.poll() is not None or "swbot-instances: not healthy" in text:
                raise RuntimeError(f"the instances did not start:\n{text[-4000:]}")
            return False

        wait_until(ready, timeout, f"{self.count} healthy instances")

    def pid(self, index: int) -> int:
        return self.pids[self.ports[index]]

    def alive(self, index: int) -> bool:
        try:
            os.kill(self.pid(index), 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self, index: int) -> None:
        """SIGKILL one instance (the script notices and carries on with the others)."""
        os.kill(self.pid(index), signal.SIGKILL)
        wait_until(lambda: not self.alive(index), 10, "the killed instance to be gone")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to the script, passed on to every instance; the script's exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for pid in self.pids.values():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
