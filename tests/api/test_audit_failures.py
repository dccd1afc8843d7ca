"""A write the audit log cannot record is not done: the audit store made to fail for real
(a trigger in its database refusing inserts), on the embedded (SQLite) and production
(PostgreSQL) stores."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import closing

import psycopg
import pytest
from api_helpers import assert_problem
from auth_helpers import PASSWORD, Secured, secured_api

from fstore import FeatureStore

Breaker = Callable[[str | None], None]  # None: the audit log works again; else refuse inserts WHEN this


def _sqlite_breaker(store: FeatureStore) -> Breaker:
    audit = store.offline._audit  # type: ignore[attr-defined]
    audit._db.get()  # the table exists from the first use on
    path = audit.path

    def set_failure(when: str | None) -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as con:
            con.execute("DROP TRIGGER IF EXISTS no_audit")
            if when is not None:
                con.execute(
                    f"CREATE TRIGGER no_audit BEFORE INSERT ON audit_log WHEN {when} "
                    "BEGIN SELECT RAISE(ABORT, 'the audit disk is gone'); END"
                )

    return set_failure


def _postgres_breaker(store: FeatureStore) -> Breaker:
    db = store.offline._db  # type: ignore[attr-defined]
    s = db.quoted_schema

    def set_failure(when: str | None) -> None:
        with psycopg.connect(store.settings.offline_url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER IF EXISTS no_audit ON {s}.fstore_audit_log")
            if when is not None:
                conn.execute(
                    f"CREATE OR REPLACE FUNCTION {s}.no_audit() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'the audit disk is gone'; END $$"
                )
                conn.execute(
                    f"CREATE TRIGGER no_audit BEFORE INSERT ON {s}.fstore_audit_log FOR EACH ROW "
                    f"WHEN ({when}) EXECUTE FUNCTION {s}.no_audit()"
                )

    return set_failure


@pytest.fixture(params=["embedded", "production"])
def backing_store(request: pytest.FixtureRequest) -> tuple[FeatureStore, Breaker]:
    if request.param == "embedded":
        store: FeatureStore = request.getfixturevalue("store")
        return store, _sqlite_breaker(store)
    store = request.getfixturevalue("production_store")
    return store, _postgres_breaker(store)


@pytest.fixture
async def case(backing_store: tuple[FeatureStore, Breaker]) -> AsyncIterator[tuple[Secured, Breaker]]:
    store, breaker = backing_store
    async with secured_api(store) as api:
        yield api, breaker
    breaker(None)


ALWAYS = "1 = 1"
OUTCOMES_ONLY = "NEW.outcome <> 'started'"


async def test_no_write_without_its_audit_record(case: tuple[Secured, Breaker]) -> None:
    api, break_audit = case
    break_audit(ALWAYS)
    r = await api.client.post("/api/v1/entities", json={"name": "shop"}, headers=api.as_("editor"))
    problem = assert_problem(r, 503)
    assert problem["store"] == "audit" and "nothing was done" in problem["detail"]
    assert_problem(await api.client.get("/api/v1/entities/shop", headers=api.as_("viewer")), 404)
    login = await api.client.post("/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD})
    assert_problem(login, 503)  # no tokens handed out unrecorded
    assert "access_token" not in login.text
    break_audit(None)
    r = await api.client.post("/api/v1/entities", json={"name": "shop"}, headers=api.as_("editor"))
    assert r.status_code == 201
    records = (await api.client.get("/api/v1/audit", headers=api.as_("admin"))).json()
    assert [(x["action"], x["outcome"]) for x in records[:2]] == [
        ("POST /api/v1/entities", "ok"),
        ("POST /api/v1/entities", "started"),
    ]


async def test_a_lost_outcome_record_leaves_the_intent(case: tuple[Secured, Breaker]) -> None:
    api, break_audit = case
    break_audit(OUTCOMES_ONLY)
    r = await api.client.post("/api/v1/entities", json={"name": "shop"}, headers=api.as_("editor"))
    assert r.status_code == 201  # done and durable: its intent is on record
    assert (await api.client.get("/api/v1/entities/shop", headers=api.as_("viewer"))).status_code == 200
    refused = await api.client.post("/api/v1/entities", json={"name": "mall"}, headers=api.as_("viewer"))
    assert_problem(refused, 503)  # a refusal with no record at all does not go out as a 403
    break_audit(None)
    records = (await api.client.get("/api/v1/audit", headers=api.as_("admin"))).json()
    assert [(x["actor"], x["action"], x["outcome"]) for x in records] == [
        ("editor", "POST /api/v1/entities", "started")
    ]
