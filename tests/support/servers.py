"""Real receivers on 127.0.0.1 for the sink tests and bench/forward.py: rsyslog (TCP + TLS, optionally
RELP) and ClickHouse.

Needs the Debian packages rsyslog, rsyslog-gnutls, rsyslog-relp, clickhouse-server, clickhouse-client and
openssl.
Everything runs in a temporary directory on spare ports; nothing touches the system's own daemons.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.ci import skip_or_fail


class ServerUnavailable(Exception):
    """The server could not be started here (missing package, failed start)."""


def find_program(name: str) -> str | None:
    """``name`` on PATH or in the sbin directories (a non-root PATH often lacks them)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin:/usr/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str, pause: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def run(*args: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise ServerUnavailable(f"{' '.join(args[:3])} failed: {proc.stderr.strip()[-400:]}")


def make_certificates(directory: Path) -> None:
    """A test CA and a server certificate for 127.0.0.1/localhost; a second, unrelated CA."""
    if find_program("openssl") is None:
        raise ServerUnavailable("openssl is not installed")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for name in ("ca", "other-ca"):
        run("openssl", "req", "-x509", *ec, "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=exectrail test {name}", cwd=directory)  # fmt: skip
    run("openssl", "req", *ec, "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=directory)  # fmt: skip
    (directory / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=directory)  # fmt: skip


RSYSLOG_CONF = """
global(workDirectory="{dir}/work" maxMessageSize="8m"
       defaultNetstreamDriverCAFile="{dir}/ca.pem"
       defaultNetstreamDriverCertFile="{dir}/server.pem"
       defaultNetstreamDriverKeyFile="{dir}/server-key.pem")
main_queue(queue.type="Direct")
module(load="imtcp" maxSessions="200")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="out")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="out")
input(type="imtcp" address="127.0.0.1" port="{tls}" ruleset="out"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="line" type="string" string="%msgid% %hostname% %app-name% %msg%\\n")
ruleset(name="out") {{ action(type="omfile" file="{dir}/messages.log" template="line") }}
"""
# imrelp (rsyslog-relp): plain and TLS listeners into the same ruleset. With the Direct main queue above,
# imrelp's "200 OK" follows the file write (the ack means "written", not "queued").
RSYSLOG_RELP_CONF = """
module(load="imrelp" tls.tlslib="openssl")
input(type="imrelp" address="127.0.0.1" port="{relp}" ruleset="out" maxDataSize="8m")
input(type="imrelp" address="127.0.0.1" port="{relptls}" ruleset="out" maxDataSize="8m" tls="on"
      tls.myCert="{dir}/server.pem" tls.myPrivKey="{dir}/server-key.pem" tls.caCert="{dir}/ca.pem")
"""


class Rsyslog:
    """``rsyslogd -n`` with an imtcp listener (plain) and a TLS listener, writing to one file; with
    ``relp=True`` also imrelp listeners (plain and TLS, :attr:`relp_url` and :attr:`relp_tls_url`)."""

    def __init__(self, directory: Path, *, relp: bool = False) -> None:
        self.program = find_program("rsyslogd")
        if self.program is None:
            raise ServerUnavailable("rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)")
        if relp and not any(Path("/usr/lib").glob("*/rsyslog/imrelp.so")):
            raise ServerUnavailable("rsyslog's imrelp module is not installed (apt-get install rsyslog-relp)")
        self.dir = directory
        (directory / "work").mkdir(parents=True, exist_ok=True)
        make_certificates(directory)
        self.tcp_port, self.tls_port, self.udp_port = free_port(), free_port(), free_port()
        self.conf = directory / "rsyslog.conf"
        ports = {"tcp": self.tcp_port, "tls": self.tls_port, "udp": self.udp_port}
        conf = RSYSLOG_CONF.format(dir=directory, **ports)
        self.relp_ports: tuple[int, ...] = ()
        if relp:
            self.relp_ports = (free_port(), free_port())
            conf += RSYSLOG_RELP_CONF.format(
                dir=directory, relp=self.relp_ports[0], relptls=self.relp_ports[1]
            )
        self.conf.write_text(conf)
        self.output = directory / "messages.log"
        self.proc: subprocess.Popen[bytes] | None = None
        #: lines a stopped (killed) rsyslogd left half written: not messages it delivered
        self.torn: set[bytes] = set()

    @property
    def tcp_url(self) -> str:
        return f"syslog+tcp://127.0.0.1:{self.tcp_port}"

    @property
    def udp_url(self) -> str:
        return f"syslog+udp://127.0.0.1:{self.udp_port}"

    @property
    def tls_url(self) -> str:
        return f"syslog+tls://127.0.0.1:{self.tls_port}?ca={self.dir / 'ca.pem'}"

    @property
    def relp_url(self) -> str:
        return f"relp://127.0.0.1:{self.relp_ports[0]}"

    @property
    def relp_tls_url(self) -> str:
        return f"relp+tls://127.0.0.1:{self.relp_ports[1]}?ca={self.dir / 'ca.pem'}"

    def start(self) -> None:
        log = open(self.dir / "rsyslogd.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.program), "-n", "-f", str(self.conf), "-i", str(self.dir / "rsyslogd.pid")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            ports = (self.tcp_port, self.tls_port, *self.relp_ports)
            wait_until(lambda: all(port_open(port) for port in ports), 15, "rsyslogd to listen")
        except TimeoutError:
            self.stop()
            out = (self.dir / "rsyslogd.out").read_text(errors="replace")[-600:]
            raise ServerUnavailable(f"rsyslogd did not start: {out}") from None

    def running(self) -> Rsyslog:
        """This server, started again if it was stopped."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._end_torn_line()

    def _end_torn_line(self) -> None:
        """A killed rsyslogd can stop inside a line; the next one would write its first message onto
        that line. End it, and keep it aside as torn (rsyslogd's loss, not the sender's)."""
        try:
            data = self.output.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            self.torn.add(data[data.rfind(b"\n") + 1 :])
            with self.output.open("ab") as out:
                out.write(b"\n")

    def clear(self) -> None:
        """Start a new output file (rsyslog reopens it on the next write)."""
        self.output.unlink(missing_ok=True)

    def lines(self) -> list[bytes]:
        """The output's lines, without those a killed rsyslogd left half written."""
        try:
            return [line for line in self.output.read_bytes().splitlines() if line not in self.torn]
        except FileNotFoundError:
            return []

    def received(self, host: str) -> list[tuple[bytes, bytes, dict[str, Any]]]:
        """(MSGID, APP-NAME, JSON body) of every message from ``host``, in arrival order."""
        out = []
        for line in self.lines():
            msgid, hostname, app, body = line.split(b" ", 3)
            if hostname == host.encode():
                out.append((msgid, app, orjson.loads(body)))
        return out

    def count(self, host: str) -> int:
        needle = b" " + host.encode() + b" "
        return sum(1 for line in self.lines() if needle in line[:300])

    def bodies(self, host: str) -> list[dict[str, Any]]:
        return [body for _, _, body in self.received(host)]

    def wait_for(self, host: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The bodies from ``host`` once at least ``count`` have arrived."""
        what = f"{count} messages from {host}"
        wait_until(lambda: self.count(host) >= count, timeout, what, pause=0.1)
        return self.bodies(host)


CLICKHOUSE_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/log/server.log</log><errorlog>{dir}/log/error.log</errorlog>
          <size>10M</size><count>1</count></logger>
  <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><interserver_http_port>{inter}</interserver_http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path><tmp_path>{dir}/tmp/</tmp_path><user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone><mlock_executable>false</mlock_executable>
  <mark_cache_size>268435456</mark_cache_size><uncompressed_cache_size>268435456</uncompressed_cache_size>
  <!-- a one-node cluster over this server: Distributed tables for tests/fleet (docs/fleet.md) -->
  <remote_servers><fleet><shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard></fleet>
  </remote_servers>
</yandex>
"""
CLICKHOUSE_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
         <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
          <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


class ClickHouse:
    """``clickhouse-server`` as the ``clickhouse`` user (when root) with a temporary config and data path."""

    def __init__(self, directory: Path | None = None) -> None:
        """``directory``: keep config and data there (made when missing, reused when it has data; new
        ports each time) instead of a temporary directory."""
        self.program = find_program("clickhouse-server")
        if self.program is None:
            raise ServerUnavailable("clickhouse-server is not installed (apt-get install clickhouse-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="exectrail-clickhouse-")) if directory is None else directory
        self.http_port, tcp, inter = free_port(), free_port(), free_port()
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        fill = {"dir": self.dir, "http": self.http_port, "tcp": tcp, "inter": inter}
        (self.dir / "config.xml").write_text(CLICKHOUSE_CONFIG.format(**fill))
        (self.dir / "users.xml").write_text(CLICKHOUSE_USERS)
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("clickhouse")
            except KeyError:
                raise ServerUnavailable("no 'clickhouse' user (the Debian package creates it)") from None
            self.user = entry.pw_name
            self.dir.chmod(0o755)
            for path in [self.dir, *self.dir.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "default", table: str = "exec_events") -> str:
        return f"clickhouse+http://127.0.0.1:{self.http_port}/{database}?table={table}"

    def command(self) -> list[str]:
        """The command line that starts this server (as the ``clickhouse`` user when root)."""
        command = [str(self.program), f"--config-file={self.dir / 'config.xml'}"]
        if self.user:
            command = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups", *command]
        return command

    def start(self) -> None:
        command = self.command()
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir
        )
        try:
            wait_until(self._ping, 60, "clickhouse-server to answer", pause=0.1)
        except TimeoutError:
            self.stop()
            errors = self.dir / "log" / "error.log"
            text = errors.read_text(errors="replace")[-600:] if errors.exists() else "no error log"
            raise ServerUnavailable(f"clickhouse-server did not start: {text}") from None

    def _ping(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise TimeoutError("clickhouse-server exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ping", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def query(self, sql: str) -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/", data=sql.encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return str(r.read().decode())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(exc.read().decode(errors="replace")) from None

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.query(sql + " FORMAT JSONEachRow").splitlines()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@contextmanager
def hung_listener(rcvbuf: int | None = None) -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts connections and never reads or answers (a hung
    receiver); yields its port. ``rcvbuf`` shrinks the receive buffer so a sender blocks sooner."""
    server = socket.socket()
    if rcvbuf is not None:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


# The session fixtures (a conftest imports them: tests/sinks, and the hostile tests that need servers).


def unavailable(reason: str) -> None:
    skip_or_fail(f"server: {reason}")


def _running_rsyslog(directory: Path, relp: bool = False) -> Iterator[Rsyslog]:
    server = None
    try:
        server = Rsyslog(directory, relp=relp)
        server.start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    assert server is not None
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    yield from _running_rsyslog(tmp_path_factory.mktemp("rsyslog"))


@pytest.fixture
def live_rsyslog(rsyslog: Rsyslog) -> Rsyslog:
    """The session rsyslog, restarted if an earlier test left it stopped."""
    return rsyslog.running()


@pytest.fixture(scope="session")
def relp_rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    """An rsyslog of its own with imrelp listeners (the RELP tests stop and restart it)."""
    yield from _running_rsyslog(tmp_path_factory.mktemp("rsyslog-relp"), relp=True)


@pytest.fixture
def live_relp_rsyslog(relp_rsyslog: Rsyslog) -> Rsyslog:
    """The session RELP rsyslog, restarted if an earlier test left it stopped."""
    return relp_rsyslog.running()


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[ClickHouse]:
    server = None
    try:
        server = ClickHouse()
        server.start()
    except ServerUnavailable as exc:
        if server is not None:
            server.cleanup()
        unavailable(str(exc))
    assert server is not None
    yield server
    server.cleanup()
