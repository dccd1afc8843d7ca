"""Schemathesis against a real server: examples, boundary cases and random requests for
every operation in the OpenAPI schema, as an admin. No response may be a 5xx, and every
response must match the schema (status code, content type, headers, body); requests that
break the schema must be refused, and requests the schema allows must not be refused as
malformed (``schemathesis_hooks.schema_valid_requests_are_accepted``: the built-in
``positive_data_acceptance`` but for a value that does not fit the stored feature, which no
schema shared by every feature can say).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from fstore import FeatureStore, Settings
from fstore.auth import Directory
from fstore.demo import DemoConfig, run_demo
from server_api import api_server

PASSWORD = "correct horse battery"
HERE = Path(__file__).parent
EXAMPLES_PER_OPERATION = 10


async def load(settings: Settings) -> None:
    async with FeatureStore(settings) as store:
        await run_demo(store, DemoConfig(customers=30, events_per_customer=4, days=10, seed=3))
        await Directory(store.metadata).create_first_admin("root", PASSWORD)


def test_schemathesis_finds_no_server_errors_and_no_schema_violations(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", secret_key=SecretStr(secrets.token_urlsafe(48)))
    asyncio.run(load(settings))
    with api_server(settings) as url:
        spec = httpx.get(f"{url}/openapi.json").json()
        operations = sum(len(methods) for methods in spec["paths"].values())
        login = httpx.post(f"{url}/api/v1/auth/token", data={"username": "root", "password": PASSWORD})
        token = login.json()["access_token"]
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{url}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--seed",
                "20261126",
                "--workers",
                "1",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--request-timeout",
                "30",
            ],
            env={**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(HERE)},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    assert f"Tested: {operations}" in report, report[-5000:]  # every operation, none skipped
