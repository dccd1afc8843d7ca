"""The routes the dashboard reads: the overview, a histogram and a time series of a feature's
values, and the features list's owner filter."""

import httpx
from api_helpers import assert_problem, make_feature

T0 = "2026-01-01T00:00:00Z"


async def test_overview_counts_changes_ingestion_and_hit_rate(client: httpx.AsyncClient) -> None:
    empty = (await client.get("/api/v1/overview")).json()
    assert empty["counts"] == {"features": 0, "groups": 0, "entities": 1}
    assert empty["online"]["hit_rate"] is None and empty["ingested_last_hour"] == 0
    assert len(empty["ingested_per_minute"]) == 60
    assert set(empty["health"]) == {"metadata", "online", "offline"}
    assert all(part["ok"] for part in empty["health"].values())

    await make_feature(client, "age")
    rows = [{"entity_id": f"c{i}", "value": i, "event_timestamp": T0} for i in range(3)]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    await client.get("/api/v1/features/age/values/c1")  # a hit
    await client.get("/api/v1/features/age/values/nobody")  # a miss
    after = (await client.get("/api/v1/overview")).json()
    assert after["counts"]["features"] == 1
    assert after["ingested_last_hour"] == 3 and after["ingested_per_minute"][-1]["values"] == 3
    assert after["online"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
    assert after["recent_changes"][0]["object_id"] == "age"
    latency = after["latency"]
    assert latency["requests"] >= 5 and 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]


async def test_histogram_bins_the_current_values(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    rows = [{"entity_id": f"c{i}", "value": v, "event_timestamp": T0} for i, v in enumerate([1, 2, 2, 3, 10])]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    found = (await client.get("/api/v1/features/age/statistics/histogram", params={"bins": 3})).json()
    assert found["count"] == 5
    assert [b["count"] for b in found["bins"]] == [4, 0, 1]
    assert found["bins"][0]["start"] == 1 and found["bins"][-1]["end"] == 10
    assert_problem(await client.get("/api/v1/features/age/statistics/histogram", params={"bins": 0}), 422)
    assert_problem(await client.get("/api/v1/features/ghost/statistics/histogram"), 404)


async def test_histogram_of_a_categorical_feature_or_of_no_values_is_empty(client: httpx.AsyncClient) -> None:
    await make_feature(client, "plan", type="categorical")
    await make_feature(client, "age")
    for name in ("plan", "age"):
        found = (await client.get(f"/api/v1/features/{name}/statistics/histogram")).json()
        assert found == {"feature": name, "count": 0, "bins": []}


async def test_timeseries_counts_and_averages_by_event_time(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    times = ["2026-01-01T00:00:00Z", "2026-01-01T00:30:00Z", "2026-01-02T00:00:00Z"]
    rows = [
        {"entity_id": "c1", "value": v, "event_timestamp": t} for v, t in zip([1, 3, 10], times, strict=True)
    ]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    found = (await client.get("/api/v1/features/age/statistics/timeseries", params={"periods": 2})).json()
    periods = found["periods"]
    assert [p["count"] for p in periods] == [2, 1]
    assert [p["mean"] for p in periods] == [2.0, 10.0]
    assert periods[0]["start"].startswith("2026-01-01T00:00:00")
    await make_feature(client, "empty")
    assert (await client.get("/api/v1/features/empty/statistics/timeseries")).json()["periods"] == []


async def test_features_filter_by_owner(client: httpx.AsyncClient) -> None:
    await make_feature(client, "a", owner="ana")
    await make_feature(client, "b", owner="bo")
    page = (await client.get("/api/v1/features", params={"owner": "ana"})).json()
    assert [f["name"] for f in page["items"]] == ["a"] and page["total"] == 1
