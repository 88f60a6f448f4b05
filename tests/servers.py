"""Real servers for the integration tests, started on free loopback ports."""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive free ports (servers per line take consecutive ports)."""
    for _ in range(100):
        base = free_port()
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on 127.0.0.1")


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def find_program(name: str, package: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (bash .ci/run does it)")
    return path


class Mosquitto:
    """Debian's mosquitto on a free port, with persistence so sessions survive a restart; with ``users``
    (name → password) only they may connect."""

    def __init__(self, workdir: Path, *, extra_conf: str = "", tls: tuple[Path, Path, Path] | None = None,
                 users: Mapping[str, str] | None = None) -> None:
        self.binary = find_program("mosquitto", "mosquitto")
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        tls_conf = f"cafile {tls[0]}\ncertfile {tls[1]}\nkeyfile {tls[2]}\n" if tls else ""
        if users:
            passwords = workdir / "passwd"
            passwords.write_text("", encoding="utf-8")
            for name, password in users.items():
                subprocess.run([find_program("mosquitto_passwd", "mosquitto"), "-b", str(passwords), name, password],
                               check=True)
            extra_conf = f"password_file {passwords}\n" + extra_conf
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n" + tls_conf +
            f"allow_anonymous {'false' if 'password_file' in extra_conf else 'true'}\n"
            # run as whoever runs the tests: the files are in their private temp dir
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            f"log_dest file {workdir}/mosquitto.log\n"
            "max_queued_messages 0\n" + extra_conf,
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path):  # type: ignore[no-untyped-def]
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def make_tls_files(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``host``: (ca.pem, server.pem, server-key.pem)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfsim test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def secured_mosquitto(workdir: Path, username: str, password: str) -> tuple[Mosquitto, Path]:
    """Mosquitto with TLS (a CA of its own) and one user, not started yet; and the CA file to trust."""
    ca, cert, key = make_tls_files(workdir)
    return Mosquitto(workdir, tls=(ca, cert, key), users={username: password}), ca


class InfluxDB:
    """Debian's influxd (1.x) with a private config: data, WAL and meta under ``workdir``; with ``admin``
    (user, password) authentication is on and that user is created at start, and the helpers use it."""

    def __init__(self, workdir: Path, *, admin: tuple[str, str] | None = None) -> None:
        self.binary = find_program("influxd", "influxdb")
        base = free_ports(2)
        self.rpc_port, self.port = base, base + 1
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "influxdb.conf"
        self.conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{workdir}/meta"\n'
            f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            f"  auth-enabled = {'true' if admin else 'false'}\n"
            "[monitor]\n  store-enabled = false\n",
            encoding="utf-8",
        )
        self.admin = admin
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.workdir / "influxd.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "-config", str(self.conf)], stdout=log, stderr=log)
        wait_for_port(self.port, timeout_s=30)
        if self.admin is not None:  # the first user may be created without credentials (and must be an admin)
            with contextlib.suppress(AssertionError):  # it exists already after a restart
                self.execute(f"CREATE USER \"{self.admin[0]}\" WITH PASSWORD '{self.admin[1]}' WITH ALL PRIVILEGES")

    def execute(self, influxql: str) -> None:
        """A statement that changes something (CREATE USER, GRANT …), as the admin when there is one."""
        self.query(influxql, database="", method="POST")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def query(self, influxql: str, database: str = "factory", *, method: str = "GET") -> list[dict[str, Any]]:
        """The series of one InfluxQL statement (epoch ms), read over plain HTTP like any client."""
        credentials = {"u": self.admin[0], "p": self.admin[1]} if self.admin else {}
        params = urllib.parse.urlencode({"db": database, "q": influxql, "epoch": "ms", **credentials})
        request = urllib.request.Request(f"{self.url}/query?{params}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            result = json.loads(response.read())["results"][0]
        assert "error" not in result, result["error"]
        return list(result.get("series", []))

    def has_database(self, name: str) -> bool:
        series = self.query("SHOW DATABASES", database="")
        return any(name == v[0] for s in series for v in s.get("values", []))

    def rows(self, influxql: str, database: str = "factory") -> list[dict[str, Any]]:
        """Every row of every series as a dict, with the series' tags merged in."""
        out = []
        for series in self.query(influxql, database):
            for values in series["values"]:
                out.append(dict(series.get("tags", {})) | dict(zip(series["columns"], values, strict=True)))
        return out


@pytest.fixture
def influxdb(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = InfluxDB(tmp_path / "influxdb")
    server.start()
    yield server
    server.stop()


def _influxql_delete(body: bytes) -> str:
    """A v2 delete request (``{"start", "stop", "predicate"}``) as the InfluxQL DELETE doing the same on 1.x."""
    import datetime as dt
    import re

    request = json.loads(body)

    def ns(text: str) -> int:
        whole, _, fraction = text.rstrip("Z").partition(".")
        seconds = dt.datetime.fromisoformat(whole).replace(tzinfo=dt.UTC).timestamp()
        return round(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))

    pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', request["predicate"])
    values = {k: re.sub(r"\\(.)", r"\1", v) for k, v in pairs}
    measurement = values.pop("_measurement")
    where = " AND ".join(f"\"{k}\" = '" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
                         for k, v in values.items())
    return (f'DELETE FROM "{measurement}" WHERE {where} AND time >= {ns(request["start"])} '
            f'AND time <= {ns(request["stop"])}')


class V2Shim:
    """Test-only: forwards influxdb-client's ``/api/v2/write?bucket=B`` to a real InfluxDB 1.x as ``/write?db=B``,
    and its ``/api/v2/delete`` as the InfluxQL DELETE of the same points.

    Body and headers pass unchanged, and the real server's answer comes back, so the request the
    client really sends is accepted or refused by a real InfluxDB (CONTRIBUTING.md, "Real servers, not
    mocks": Debian ships InfluxDB 1.x, not 2.x). A token ``USER:PASSWORD`` goes on as those credentials,
    as InfluxDB 1.8's own 2.x-compatible API takes it, so a server with authentication judges the token;
    with the server away the shim answers 502, as a reverse proxy in front of a stopped InfluxDB does."""

    def __init__(self, target: InfluxDB) -> None:
        import http.server
        import threading

        self.requests: list[tuple[str, dict[str, str]]] = []
        shim = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                shim.requests.append((self.path, dict(self.headers)))
                if parts.path == "/api/v2/write":
                    # the v2 API spells precisions ns/us/ms/s, the 1.x API n/u/ms/s
                    precision = {"ns": "n", "us": "u"}.get(query["precision"], query["precision"])
                    path = "/write?" + urllib.parse.urlencode({"db": query["bucket"], "precision": precision})
                elif parts.path == "/api/v2/delete":
                    path = "/query?" + urllib.parse.urlencode({"db": query["bucket"], "q": _influxql_delete(body)})
                    body = b""
                else:
                    path = self.path
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-encoding", "content-type")}
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                if scheme == "Token":
                    headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
                request = urllib.request.Request(target.url + path, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, answer = response.status, response.read()
                except urllib.error.HTTPError as e:
                    status, answer = e.code, e.read()
                except urllib.error.URLError as e:  # what a reverse proxy in front of a stopped InfluxDB answers
                    status, answer = 502, f"<html><body><h1>502 Bad Gateway</h1>{e.reason}</body></html>".encode()
                if parts.path == "/api/v2/delete" and status == 200:
                    error = json.loads(answer)["results"][0].get("error")
                    status, answer = (400, json.dumps({"message": error}).encode()) if error else (204, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
