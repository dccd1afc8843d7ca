"""What the client tests share: a real uvicorn server on a free port in a background thread,
the hand-made data it starts with, a server with authentication on (``Secured``), and
running the CLI in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from fstore import FeatureStore, Settings, SyncFeatureStore
from fstore.auth import Directory, Role, TokenIssuer
from fstore.cli import app

PASSWORD = "correct horse battery"  # every user's password on the secured server

# (customer, event time, amount, segment)
HISTORY = [
    ("c1", "2025-01-01T00:00:00Z", 10.0, "gold"),
    ("c2", "2025-01-02T00:00:00Z", 30.0, "silver"),
    ("c1", "2025-01-03T00:00:00Z", 20.0, "silver"),
    ("c2", "2025-01-04T00:00:00Z", 40.0, "bronze"),
    ("c3", "2025-01-05T00:00:00Z", 50.0, "gold"),
]


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    settings: Settings


@dataclass(frozen=True)
class Secured:
    """The server with authentication on (``conftest.secured``): the admin ``root``, the editor
    ``ana``, the viewer ``vic`` and the viewer API key ``ranker``."""

    url: str
    secret: str
    api_key: str
    settings: Settings

    def token(self, name: str, *, seconds: int = 600) -> str:
        """An access token of a new session of the user ``name``, started on the server's
        metadata store (on a thread of its own: callers may be inside an event loop)."""

        async def start() -> tuple[Any, int, str]:
            async with FeatureStore(self.settings) as store:
                return await Directory(store.metadata).start_session(name, 3600)

        with ThreadPoolExecutor(1) as pool:
            principal, epoch, family = pool.submit(asyncio.run, start()).result()
        issuer = TokenIssuer(self.secret, access_seconds=seconds, refresh_seconds=60)
        return issuer.issue(name, principal.role, epoch, family)[0].access_token

    def expired(self, name: str) -> str:
        """An access token that expired a minute ago (no session needed: expiry is checked first)."""
        issuer = TokenIssuer(self.secret, access_seconds=-60, refresh_seconds=60)
        return issuer.issue(name, Role.VIEWER, 0, "expired")[0].access_token


_runner = CliRunner()


def fstore(*args: str, code: int = 0, env: Mapping[str, str] | None = None) -> Result:
    """``fstore *args`` run in this process; asserts the exit code."""
    result = _runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def seed(fs: SyncFeatureStore) -> None:
    """customer; amount (standard scaler), amount_x2 (min-max, depends on amount), segment
    (one-hot); the group spend; the history above; fitted transformers."""
    fs.create_entity({"name": "customer", "join_key": "customer_id"})
    fs.create_group({"name": "spend", "entity": "customer", "description": "Spending"})
    fs.create_feature(
        {"name": "amount", "entity": "customer", "group": "spend", "tags": ["finance"]}, "standard_scaler"
    )
    x2 = {"name": "amount_x2", "entity": "customer", "dependencies": ["amount"]}
    fs.create_feature(x2, "minmax_scaler")
    fs.create_feature({"name": "segment", "entity": "customer", "type": "categorical"}, "onehot_encoder")
    rows: dict[str, list[dict[str, Any]]] = {"amount": [], "amount_x2": [], "segment": []}
    for customer, at, amount, segment in HISTORY:
        for name, value in (("amount", amount), ("amount_x2", amount * 2), ("segment", segment)):
            rows[name].append({"entity_id": customer, "value": value, "event_timestamp": at})
    for name, batch in rows.items():
        fs.store_feature_values(name, batch)
        fs.fit_transformer(name)
