"""The observability middleware: request ids, access log, size limits, metrics, CORS."""

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from api_helpers import assert_problem, make_feature
from conftest_observability import LIMIT, ORIGIN, body_stream, obs_client, plain_client
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fstore.api.observability import JsonFormatter, TextFormatter, logging_config

__all__ = ["obs_client", "plain_client"]  # fixtures, imported for pytest

HEX_ID = re.compile(r"[0-9a-f]{32}")
ACCESS = "fstore.api.access"


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The access-log records, formatted as the server writes them."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == ACCESS]


# -- request id ------------------------------------------------------------------------------------


async def test_a_sane_request_id_is_kept(obs_client: httpx.AsyncClient) -> None:
    rid = "trace-01.ABC_def"
    r = await obs_client.get("/probe/request-id", headers={"X-Request-ID": rid})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == rid
    assert r.json() == {"request_id": rid}


@pytest.mark.parametrize("incoming", [None, "has space", "x" * 129, "semi;colon", ""])
async def test_a_missing_or_odd_request_id_is_replaced(
    obs_client: httpx.AsyncClient, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    r = await obs_client.get("/probe/request-id", headers=headers)
    rid = r.headers["x-request-id"]
    assert HEX_ID.fullmatch(rid), rid
    assert r.json() == {"request_id": rid}
    again = await obs_client.get("/probe/request-id", headers=headers)
    assert again.headers["x-request-id"] != rid


async def test_the_longest_sane_request_id_is_kept(obs_client: httpx.AsyncClient) -> None:
    rid = "a" * 128
    assert (await obs_client.get("/health/live", headers={"X-Request-ID": rid})).headers[
        "x-request-id"
    ] == rid


async def test_error_responses_carry_the_request_id(obs_client: httpx.AsyncClient) -> None:
    r = await obs_client.get("/api/v1/features/nope", headers={"X-Request-ID": "rid-404"})
    assert_problem(r, 404)
    assert r.headers["x-request-id"] == "rid-404"
    unrouted = await obs_client.get("/api/no/such/path")  # elsewhere, the dashboard answers
    assert unrouted.status_code == 404
    assert HEX_ID.fullmatch(unrouted.headers["x-request-id"])


# -- access log ------------------------------------------------------------------------------------


async def test_one_json_access_line_per_request(
    obs_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    before = datetime.now(UTC)
    r = await obs_client.get("/api/v1/entities/customer", headers={"X-Request-ID": "rid-1"})
    assert r.status_code == 200
    (line,) = access_lines(caplog)
    assert line["level"] == "info"
    assert line["logger"] == ACCESS
    assert line["request_id"] == "rid-1"
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/entities/customer"
    assert line["route"] == "/api/v1/entities/{name}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert 0 < line["duration_ms"] < 5_000
    assert line["client"] == "10.1.2.3"
    # auth is disabled in dev mode: the auth code puts its "dev" admin principal on the state
    assert line["actor"] == "dev"
    assert line["role"] == "admin"
    ts = str(line["ts"])
    assert ts.endswith("Z")
    assert before.replace(microsecond=0) <= datetime.fromisoformat(ts) <= datetime.now(UTC)


async def test_access_line_without_a_principal(
    obs_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    await obs_client.get("/health/live")
    await obs_client.get("/api/no/such/path")
    live, unrouted = access_lines(caplog)
    assert live["actor"] is None and live["route"] == "/health/live" and live["status"] == 200
    assert unrouted["route"] == "unmatched" and unrouted["status"] == 404
    assert unrouted["path"] == "/api/no/such/path"


async def test_an_unhandled_error_is_a_500_problem_logged_with_its_request_id(
    obs_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fstore.api")
    r = await obs_client.get("/probe/boom", headers={"X-Request-ID": "rid-boom"})
    body = assert_problem(r, 500)
    assert body["request_id"] == "rid-boom"
    assert "rid-boom" in body["detail"] and "kaboom" not in r.text
    assert r.headers["x-request-id"] == "rid-boom"
    formatter = JsonFormatter()
    errors = [json.loads(formatter.format(rec)) for rec in caplog.records if rec.levelno >= logging.ERROR]
    traceback_line, access_line = errors
    assert traceback_line["request_id"] == "rid-boom"
    assert "RuntimeError: kaboom" in str(traceback_line["exc"])
    assert access_line["logger"] == ACCESS
    assert access_line["request_id"] == "rid-boom"
    assert access_line["status"] == 500 and access_line["level"] == "error"


def test_log_lines_written_during_a_request_name_it() -> None:
    from fstore.api.observability import current_request_id

    record = logging.LogRecord("fstore.x", logging.WARNING, __file__, 1, "store %s down", ("online",), None)
    token = current_request_id.set("rid-ctx")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        current_request_id.reset(token)
    assert line["request_id"] == "rid-ctx"
    assert line["msg"] == "store online down"
    assert line["level"] == "warning"
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_server_logging_config_is_json_or_text() -> None:
    import logging.config

    for json_logs, formatter in ((True, JsonFormatter), (False, TextFormatter)):
        config = logging_config(json_logs)
        assert {"uvicorn", "uvicorn.error", "uvicorn.access", "fstore"} <= set(config["loggers"])
        built = logging.config.DictConfigurator(config).configure_formatter(config["formatters"]["fstore"])
        assert type(built) is formatter


# -- request size ----------------------------------------------------------------------------------


async def test_a_content_length_over_the_limit_is_refused_unread(obs_client: httpx.AsyncClient) -> None:
    pulled: list[int] = []
    stream = body_stream(4, 512, pulled)
    headers = {"Content-Length": str(4 * 512), "Content-Type": "application/json", "X-Request-ID": "big"}
    r = await obs_client.post("/api/v1/features/age/values/batch", content=stream(), headers=headers)
    body = assert_problem(r, 413)
    assert body["limit"] == LIMIT
    assert body["type"] == "urn:fstore:error:RequestTooLargeError"
    assert r.headers["x-request-id"] == "big"
    assert pulled == []  # not one byte of the body was read


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    obs_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await make_feature(obs_client, "age", dtype="int")
    caplog.set_level(logging.INFO, logger=ACCESS)
    caplog.clear()
    pulled: list[int] = []
    stream = body_stream(10, 400, pulled)
    r = await obs_client.post(
        "/api/v1/features/age/values/batch", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    body = assert_problem(r, 413)
    assert body["limit"] == LIMIT
    assert len(pulled) == 3  # 1200 bytes > 1024: the 3rd chunk crossed the limit, no more was read
    (line,) = access_lines(caplog)
    assert line["status"] == 413
    history = await obs_client.get("/api/v1/features/age/values")
    assert history.json() == []


async def test_a_body_longer_than_its_content_length_is_cut_off(obs_client: httpx.AsyncClient) -> None:
    """HTTP servers enforce Content-Length; the middleware does not rely on it."""
    pulled: list[int] = []
    stream = body_stream(10, 400, pulled)
    r = await obs_client.post("/probe/echo", content=stream(), headers={"Content-Length": "10"})
    assert_problem(r, 413)
    assert len(pulled) == 3


async def test_bodies_within_the_limit_pass_chunked_or_not(obs_client: httpx.AsyncClient) -> None:
    pulled: list[int] = []
    stream = body_stream(2, 512, pulled)
    r = await obs_client.post("/probe/echo", content=stream())
    assert r.status_code == 200, r.text
    assert r.json() == {"received": LIMIT}
    r = await obs_client.post("/probe/echo", content=b"y" * LIMIT)
    assert r.json() == {"received": LIMIT}
    assert_problem(await obs_client.post("/probe/echo", content=b"y" * (LIMIT + 1)), 413)


# -- metrics ---------------------------------------------------------------------------------------


def _samples(text: str, name: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def _one(text: str, name: str, **labels: str) -> float:
    found = [s.value for s in _samples(text, name) if labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def test_store_operations_and_ingested_values_in_metrics(obs_client: httpx.AsyncClient) -> None:
    await make_feature(obs_client, "age", dtype="int")
    rows = [{"entity_id": f"c{i}", "value": i} for i in range(5)]
    r = await obs_client.post("/api/v1/features/age/values/batch", json={"values": rows})
    assert r.status_code == 201, r.text
    vector = {"features": ["age"], "entities": ["c1", "c2"]}
    assert (await obs_client.post("/api/v1/online/features", json=vector)).status_code == 200
    text = (await obs_client.get("/metrics")).text

    assert _one(text, "fstore_ingested_values_total") == 5
    op = "fstore_store_operation_seconds"
    assert _one(text, f"{op}_count", store="offline", operation="write") == 1
    assert _one(text, f"{op}_count", store="online", operation="read") >= 1
    assert _one(text, f"{op}_count", store="online", operation="write") >= 1
    assert _one(text, f"{op}_count", store="metadata", operation="generation") >= 2
    assert _one(text, "fstore_store_operation_errors_total", store="offline", operation="write") == 0
    for store, operation in (("offline", "write"), ("online", "read")):
        count = _one(text, f"{op}_count", store=store, operation=operation)
        total = _one(text, f"{op}_sum", store=store, operation=operation)
        assert 0 < total < count * 5  # seconds, for an embedded store on a tmp dir
        buckets = [
            s
            for s in _samples(text, f"{op}_bucket")
            if s.labels["store"] == store and s.labels["operation"] == operation
        ]
        values = [s.value for s in buckets]
        assert values == sorted(values)  # cumulative
        assert buckets[-1].labels["le"] == "+Inf" and values[-1] == count
    # request latencies are labelled by route template, and errors derived from them
    http = "fstore_http_request_duration_seconds_count"
    assert _one(text, http, method="POST", route="/api/v1/features/{name}/values/batch", status="201") == 1
    await obs_client.get("/api/v1/features/nope")
    text = (await obs_client.get("/metrics")).text
    assert _one(text, "fstore_http_errors_total", route="/api/v1/features/{name}", status="404") == 1


async def test_ingest_counts_only_stored_values(tmp_path: Path) -> None:
    """The core counter, without the API: a dry run stores (and counts) nothing."""
    import pandas as pd

    from fstore import FeatureStore
    from fstore.models import Entity, Feature

    async with FeatureStore(home=tmp_path / "core", actor="t") as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        await fs.create_feature(Feature(name="age", entity="customer", dtype="int"))
        frame = pd.DataFrame(
            {
                "customer_id": ["a", "b"],
                "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
                "age": [1, 2],
            }
        )
        await fs.ingest(frame, validate_only=True)
        assert fs.metrics.ingested_values == 0
        await fs.ingest(frame)
        await fs.store_feature_value("age", "c", 3)
        assert fs.metrics.ingested_values == 3


# -- CORS ------------------------------------------------------------------------------------------


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
    }


async def test_cors_preflight_allowed_for_the_configured_origin(obs_client: httpx.AsyncClient) -> None:
    r = await obs_client.options("/api/v1/online/features", headers=_preflight(ORIGIN))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    allowed = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= allowed and "PUT" not in allowed
    assert "x-request-id" in r.headers["access-control-allow-headers"].lower()
    assert HEX_ID.fullmatch(r.headers["x-request-id"])
    simple = await obs_client.get("/health/live", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert simple.headers["access-control-expose-headers"].lower() == "x-request-id"


async def test_cors_refuses_other_origins(obs_client: httpx.AsyncClient) -> None:
    r = await obs_client.options("/api/v1/online/features", headers=_preflight("https://evil.example.com"))
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    simple = await obs_client.get("/health/live", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in simple.headers


async def test_no_cors_without_configured_origins(plain_client: httpx.AsyncClient) -> None:
    r = await plain_client.options("/api/v1/online/features", headers=_preflight(ORIGIN))
    assert r.status_code == 405
    assert "access-control-allow-origin" not in r.headers
    simple = await plain_client.get("/health/live", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in simple.headers
