"""The dashboard (web/): its API types match the API, its component tests (Vitest) pass, and
its end-to-end tests (Playwright in Debian's chromium) pass against ``fstore serve --demo``
with authentication on, on the embedded stores and on the production ones.

Needs Node.js (npm) and /usr/bin/chromium; ``.ci/run`` installs chromium and builds the
dashboard. Without them the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from e2e_serving import serving

from server_mongo import database_url, drop_database
from server_postgres import drop_schema
from server_redis import delete_prefix

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
BUILD = ROOT / "src" / "fstore" / "web_dist" / "index.html"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "a long e2e passphrase"

pytestmark = pytest.mark.slow


def _need(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is missing (CI needs it: see .ci/run)")
        pytest.skip(f"{what} is missing")


def _npm(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> None:
    proc = subprocess.run(
        ["npm", *args],
        cwd=WEB,
        env={**os.environ, "FSTORE_PYTHON": sys.executable, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"npm {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def web() -> Path:
    """web/ with its node_modules installed."""
    _need(shutil.which("npm") is not None, "npm (Node.js 20+)")
    if not (WEB / "node_modules").is_dir():
        _npm("ci", "--no-audit", "--no-fund")
    return WEB


@pytest.fixture(scope="module")
def built(web: Path) -> Path:
    """The production build the server serves (built here when .ci/run has not)."""
    if not BUILD.is_file():
        _npm("run", "build")
    return BUILD


def _production_urls(request: pytest.FixtureRequest) -> tuple[dict[str, str], Callable[[], None]]:
    """The specification's stack (MongoDB protocol, Redis, PostgreSQL), in a database, key
    prefix and schema of its own, and how to drop them."""
    mongo = request.getfixturevalue("mongo_server")
    redis = request.getfixturevalue("redis_url")
    postgres = request.getfixturevalue("postgres_url")
    tag = uuid4().hex[:12]
    urls = {
        "FSTORE_METADATA_URL": database_url(mongo, f"fstore_{tag}"),
        "FSTORE_ONLINE_URL": f"{redis}?prefix=fstore_{tag}:",
        "FSTORE_OFFLINE_URL": f"{postgres}?schema=test_{tag}",
    }

    def drop() -> None:
        drop_database(urls["FSTORE_METADATA_URL"])
        delete_prefix(redis, f"fstore_{tag}:")
        drop_schema(postgres, f"test_{tag}")

    return urls, drop


@pytest.fixture(scope="module", params=["embedded", "production"])
def demo_server(
    request: pytest.FixtureRequest, built: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``fstore serve --demo --dev`` with authentication on and an admin and a viewer, on the
    embedded stores or on the production ones."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    env = {"FSTORE_DEV_MODE": "true", "FSTORE_SECRET_KEY": "e2e-" + "k" * 60, "FSTORE_PASSWORD": PASSWORD}
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if request.param == "production":
        urls, drop = _production_urls(request)
        env.update(urls)
    base = {k: v for k, v in os.environ.items() if not k.startswith("FSTORE_")}
    try:
        for name, role in (("e2e_admin", "admin"), ("e2e_viewer", "viewer")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fstore.cli",
                    "--home",
                    str(home),
                    "users",
                    "add",
                    name,
                    "--role",
                    role,
                ],
                env={**base, **env},
                check=True,
                capture_output=True,
                timeout=60,
            )
        with serving(home, "--demo", env=env, wait=300) as server:
            yield server.base
    finally:
        drop()


def test_api_types_match_the_api(web: Path) -> None:
    """web/src/api/schema.d.ts is what openapi-typescript makes of the API's schema today."""
    _npm("run", "check:api")


def test_component_tests(web: Path) -> None:
    _npm("test")


def test_dashboard_end_to_end_in_chromium(demo_server: str) -> None:
    _need(Path(CHROMIUM).is_file(), CHROMIUM)
    _npm(
        "run",
        "e2e",
        env={"FSTORE_E2E_URL": demo_server, "FSTORE_E2E_PASSWORD": PASSWORD, "CHROMIUM": CHROMIUM},
        timeout=900,
    )
