"""``fstore.AsyncClient``: the same operations as coroutines, on one keep-alive pool."""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from fstore import AsyncClient, Client
from fstore.errors import NotFoundError, StoreUnavailableError
from server_redis import free_port

if TYPE_CHECKING:
    from client_helpers import Server


async def test_operations_are_coroutines_with_the_same_answers(server: Server) -> None:
    async with AsyncClient(server.url) as aio:
        assert inspect.iscoroutinefunction(aio.get_feature)
        assert aio.get_feature.__name__ == "get_feature" and "feature" in (aio.update_feature.__doc__ or "")
        with Client(server.url) as sync:
            assert await aio.list_features() == sync.list_features()
            assert await aio.get_version("amount") == sync.get_version("amount")
            assert await aio.get_feature_value("segment", "c2") == sync.get_feature_value("segment", "c2")
            assert await aio.get_feature_value("segment", "nobody") is None
            assert await aio.statistics("amount") == sync.statistics("amount")
            rows = pd.DataFrame(
                {"customer_id": ["c1", "c3"], "event_timestamp": ["2025-01-04", "2025-01-05"]}
            )
            both = ["amount", "amount_x2"]
            got = await aio.get_historical_features(rows, both)
            pd.testing.assert_frame_equal(got, sync.get_historical_features(rows, both))
        assert set(await aio.health()) == {"metadata", "online", "offline"}
        with pytest.raises(NotFoundError):
            await aio.get_group("ghost")


async def test_concurrent_calls_share_the_client(server: Server) -> None:
    async with AsyncClient(server.url) as aio:
        ids = [f"c{i % 4}" for i in range(40)]
        vectors = await asyncio.gather(*(aio.get_feature_vector(["amount", "segment"], [i]) for i in ids))
        assert [v.entity_ids for v in vectors] == [[i] for i in ids]
        assert {v.values["amount"][0] is None for v in vectors} == {True, False}  # c0 has no values


async def test_writes_round_trip(server: Server) -> None:
    async with AsyncClient(server.url) as aio:
        await aio.create_entity({"name": "store_async", "join_key": "sid"})
        await aio.create_feature({"name": "footfall", "entity": "store_async"}, "minmax_scaler")
        assert await aio.store_feature_values("footfall", [{"entity_id": "a", "value": 1.0}]) == 1
        assert await aio.store_feature_value("footfall", "b", 3.0) == 1
        assert (await aio.fit_transformer("footfall")).version == "1.1.0"
        assert (await aio.get_feature_vector(["footfall"], ["a", "b"])).values == {"footfall": [0.0, 1.0]}
        await aio.delete_feature("footfall")
        await aio.delete_entity("store_async")


async def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with AsyncClient(url) as aio:
        with pytest.raises(StoreUnavailableError, match=url):
            await aio.get_feature("amount")
