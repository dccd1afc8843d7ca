"""``fstore serve`` starts a real uvicorn server on the configured store."""

import subprocess
import sys
import time
from pathlib import Path

import httpx

from server_redis import free_port


def test_serve_answers_over_http(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "fstore.cli", "--home", str(tmp_path), "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server exited"
            assert time.monotonic() < deadline, "fstore serve did not answer within 20 s"
            time.sleep(0.1)
        created = httpx.post(f"{base}/api/v1/entities", json={"name": "customer"}, timeout=5)
        assert created.status_code == 201
        assert httpx.get(f"{base}/api/v1/entities/customer", timeout=5).json()["join_key"] == "customer_id"
        assert httpx.get(f"{base}/health/ready", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
