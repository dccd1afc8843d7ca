"""``fstore serve`` starts a real uvicorn server on the configured store."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_serving import DEV_ENV, _env, serving

from fstore import demo_aggregates
from fstore.demo import FEATURES
from server_redis import free_port

if TYPE_CHECKING:
    from conftest import Cli


def test_serve_answers_over_http_and_logs_json(tmp_path: Path) -> None:
    with serving(tmp_path / "home", "--dev", "--no-auth") as server:
        created = server.post(
            "/api/v1/entities", json={"name": "customer"}, headers={"X-Request-ID": "e2e-1"}
        )
        assert created.status_code == 201
        assert created.headers["x-request-id"] == "e2e-1"
        assert server.get("/api/v1/entities/customer").json()["join_key"] == "customer_id"
        assert server.get("/health/ready").status_code == 200
        too_big = server.post("/api/v1/entities", content=b"x" * (64 * 1024 * 1024 + 1))
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith("application/problem+json")
        metrics = server.get("/metrics").text
        assert 'fstore_store_operation_seconds_count{operation="write",store="metadata"}' in metrics
    # every line of the server's log is a JSON object (json.loads above), uvicorn's too
    by_logger = {line["logger"] for line in server.lines}
    assert {"uvicorn.error", "fstore.api.access", "fstore.serve"} <= by_logger
    started = [line["msg"] for line in server.lines if line["logger"] == "fstore.serve"]
    assert (
        f"FStore API at {server.base} (dashboard: {server.base}/, Swagger UI: {server.base}/docs)" in started
    )
    (access,) = [line for line in server.lines if line.get("request_id") == "e2e-1"]
    assert access["logger"] == "fstore.api.access"
    assert access["method"] == "POST" and access["route"] == "/api/v1/entities" and access["status"] == 201
    assert access["actor"] == "dev" and access["client"] == "127.0.0.1"
    assert not any("authentication is disabled" in line["msg"] for line in server.lines)  # loopback


def test_text_logs_when_json_is_off(tmp_path: Path) -> None:
    env = {**DEV_ENV, "FSTORE_LOG_JSON": "false"}
    with serving(tmp_path / "home", env=env, json_logs=False) as server:
        assert server.get("/health/live", headers={"X-Request-ID": "plain-1"}).status_code == 200
    assert "GET /health/live 200" in server.stderr and "request_id=plain-1" in server.stderr
    assert f"FStore API at {server.base}" in server.stderr
    assert not any(line.startswith("{") for line in server.stderr.splitlines())


def test_no_auth_needs_dev(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FSTORE_DEV_MODE", raising=False)
    line = cli("serve", "--no-auth", code=6).error_line()
    assert "--no-auth needs --dev" in line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "FSTORE_SECRET_KEY is not set"),
        ({"FSTORE_AUTH_DISABLED": "true"}, "authentication can only be disabled in dev mode"),
    ],
)
def test_unsafe_configuration_is_one_error_line_and_exit_6(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fstore.cli", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "home", env),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 6, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("error: ") and expected in proc.stderr


def start_fails(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``fstore serve`` that must not start: one ``error:`` line on stderr, no traceback."""
    port = next((a for a in args if a.startswith("port=")), None)
    argv = [a for a in args if a != port]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fstore.cli",
            "serve",
            "--port",
            port[5:] if port else str(free_port()),
            *argv,
        ],
        capture_output=True,
        text=True,
        env=_env(home, DEV_ENV if env is None else env),
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not _info_record(line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def _info_record(line: str) -> bool:
    """A JSON log record at level info, such as the notice that this checkout has no dashboard
    build (a fresh clone, before ``npm run build``), which comes before a failing start's error."""
    return line.startswith("{") and json.loads(line).get("level") == "info"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_no_auth_refuses_a_public_address(tmp_path: Path, host: str) -> None:
    proc = start_fails(tmp_path / "home", "--dev", "--no-auth", "--host", host)
    assert proc.returncode == 6 and "loopback" in proc.stderr and host in proc.stderr


def test_auth_disabled_by_setting_refuses_a_public_address(tmp_path: Path) -> None:
    proc = start_fails(tmp_path / "home", "--host", "0.0.0.0")  # DEV_ENV: FSTORE_AUTH_DISABLED=true
    assert proc.returncode == 6 and "loopback" in proc.stderr


def test_a_low_entropy_secret_is_refused(tmp_path: Path) -> None:
    for weak in ("a" * 48, "password" * 6):
        proc = start_fails(tmp_path / "home", env={"FSTORE_SECRET_KEY": weak})
        assert proc.returncode == 6 and "FSTORE_SECRET_KEY" in proc.stderr


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_fails(tmp_path / "home", "--dev", "--no-auth", f"port={port}")
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "in use" in proc.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FSTORE_OFFLINE_URL": "postgresql://127.0.0.1:1/nothing"}, ""),  # nothing listens on port 1
        ({"FSTORE_ONLINE_URL": "memcached://x"}, "memcached"),
        ({"FSTORE_LOGIN_MAX_FAILURES": "zero"}, "login_max_failures"),
        ({"FSTORE_TRUSTED_PROXIES": '["not-an-address"]'}, "not-an-address"),
        ({"FSTORE_RATE_LIMIT_URL": "ftp://x"}, "rate-limit"),
    ],
)
def test_bad_stores_and_settings_are_one_error_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    proc = start_fails(tmp_path / "home", "--dev", "--no-auth", env={**DEV_ENV, **env})
    assert expected in proc.stderr


def test_bad_tls_files_are_one_error_line(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    key.write_text("garbage")
    proc = start_fails(
        tmp_path / "home", "--dev", "--no-auth", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)
    )
    assert "TLS" in proc.stderr


def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    with serving(tmp_path / "home", "--dev", "--no-auth") as server:
        for r in (
            server.get("/health/live"),
            server.get("/api/v1/nothing-here"),
            server.post("/api/v1/entities", json={"name": "customer"}),
            server.post("/api/v1/entities", content=b"x" * (64 * 1024 * 1024 + 1)),
        ):
            assert r.headers["x-content-type-options"] == "nosniff", r.request.url
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert "server" not in r.headers and "strict-transport-security" not in r.headers
            assert "cache-control" not in r.headers
        me = server.get("/api/v1/auth/me")
        assert me.headers["cache-control"] == "no-store"


def _self_signed(where: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "the TLS test needs the openssl command"
    cert, key = where / "cert.pem", where / "key.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject, *files],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_serve_over_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    args = ("--dev", "--no-auth", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with serving(tmp_path / "home", *args, tls=True) as server:
        assert server.base.startswith("https://")
        trusted = httpx.get(
            f"{server.base}/health/live", verify=ssl.create_default_context(cafile=cert), timeout=5
        )
        assert trusted.status_code == 200
        assert server.post("/api/v1/entities", json={"name": "customer"}).status_code == 201
        plain = server.base.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/health/live", timeout=5)
        assert trusted.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in trusted.headers
    started = [line["msg"] for line in server.lines if line["logger"] == "fstore.serve"]
    assert any(msg.startswith(f"FStore API at {server.base}") for msg in started)


@pytest.mark.parametrize(
    "args",
    [
        ("--ssl-certfile", "{cert}"),
        ("--ssl-keyfile", "{key}"),
        ("--ssl-certfile", "{cert}", "--ssl-keyfile", "nope"),
    ],
)
def test_tls_options_are_checked(cli: Cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    filled = [a.format(cert=cert, key=key) for a in args]
    line = cli("serve", "--dev", *filled, code=2).error_line()
    assert "--ssl-keyfile" in line or "no such file" in line


def test_demo_is_loaded_once_and_served(tmp_path: Path) -> None:
    home = tmp_path / "home"
    names = [feature.name for feature, _ in FEATURES]
    with serving(home, "--dev", "--no-auth", "--demo") as server:
        r = server.post(
            "/api/v1/online/features", json={"features": names, "entities": ["C000000", "C000999"]}
        )
        assert r.status_code == 200, r.text
        vector = r.json()
        assert vector["customer_id"] == ["C000000", "C000999"]
        for name in names:
            assert len(vector[name]) == 2 and all(v is not None for v in vector[name]), name
    assert any(line["msg"].startswith("demo loaded: ") for line in server.lines)
    with serving(home, "--dev", "--no-auth", "--demo") as again:
        assert again.get("/api/v1/features").json()["total"] == len(names) + len(demo_aggregates.NAMES)
    assert any("the demo is not loaded" in line["msg"] for line in again.lines)
