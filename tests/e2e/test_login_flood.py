"""A flood of wrong-password logins does not slow other clients: argon2 runs off the event
loop, a bounded number at a time. Measured against a real ``fstore serve``."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from pathlib import Path

import httpx
from e2e_serving import serving
from pydantic import SecretStr

from fstore import FeatureStore, Settings
from fstore.auth import Directory, Role

PASSWORD = "correct horse battery"
CHEAP_GETS = 60
FLOODERS = 12


async def _setup(home: Path, secret: str) -> str:
    async with FeatureStore(Settings(home=home, secret_key=SecretStr(secret))) as store:
        directory = Directory(store.metadata)
        await directory.create_user("ana", PASSWORD, Role.ADMIN)
        return (await directory.create_api_key("probe", Role.VIEWER))[1]


async def _median_get_ms(client: httpx.AsyncClient, key: str) -> float:
    times = []
    for _ in range(CHEAP_GETS):
        started = time.perf_counter()
        r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
        times.append((time.perf_counter() - started) * 1e3)
        assert r.status_code == 200
    return statistics.median(times)


async def _flood(base: str, stop: asyncio.Event, counts: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while not stop.is_set():
            r = await client.post("/api/v1/auth/token", data={"username": "ana", "password": "wrong-guess"})
            assert r.status_code in (401, 429), r.text
            counts.append(r.status_code)


async def _measure(base: str, key: str) -> tuple[float, float, int]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await _median_get_ms(client, key)  # warm up
        quiet = await _median_get_ms(client, key)
        stop, counts = asyncio.Event(), []  # type: ignore[var-annotated]
        flooders = [asyncio.create_task(_flood(base, stop, counts)) for _ in range(FLOODERS)]
        await asyncio.sleep(1.0)  # the flood is on
        loaded = await _median_get_ms(client, key)
        stop.set()
        await asyncio.gather(*flooders)
        return quiet, loaded, len(counts)


def test_a_login_flood_does_not_slow_other_clients(tmp_path: Path) -> None:
    home, secret = tmp_path / "home", secrets.token_urlsafe(48)
    key = asyncio.run(_setup(home, secret))
    env = {
        "FSTORE_SECRET_KEY": secret,
        "FSTORE_LOGIN_MAX_FAILURES": "1000000",  # measure the hashing, not the throttle
        "FSTORE_LOGIN_ADDRESS_MAX_FAILURES": "1000000",
        "FSTORE_LOGIN_USER_MAX_FAILURES": "1000000",
    }
    with serving(home, env=env) as server:
        quiet, loaded, logins = asyncio.run(_measure(server.base, key))
    print(
        f"median GET: {quiet:.2f} ms quiet, {loaded:.2f} ms under {FLOODERS} login flooders ({logins} logins)"
    )
    assert logins >= 5  # the flood did happen
    # 2 shared cores: the flooders' own client also competes for the CPU; a login checked on the
    # event loop would add tens of ms (one argon2 check each) to every GET behind it
    assert loaded < max(4 * quiet, quiet + 15), (quiet, loaded)
