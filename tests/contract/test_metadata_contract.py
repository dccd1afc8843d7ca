"""The MetadataStore contract: every backend passes these (only protocol methods are used)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pymongo import MongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from fstore.backends import create_metadata_store
from fstore.backends.metadata import mongodb
from fstore.backends.metadata.base import Delete, Kind, MetadataStore, Put, Query
from fstore.backends.metadata.mongodb import MongoMetadataStore, mask_url
from fstore.backends.metadata.sqlite import SQLiteMetadataStore
from fstore.errors import AlreadyExistsError, NotFoundError, StoreUnavailableError
from server_mongo import database_url, drop_database

DOC = {
    "name": "amount",
    "n": 3,
    "x": 1.5,
    "flag": True,
    "none": None,
    "tags": ["a", "b"],
    "nested": {"k": [1, {"deep": "é ü 漢字"}]},
}


async def test_implements_protocol(metadata_store: MetadataStore) -> None:
    assert isinstance(metadata_store, MetadataStore)
    assert metadata_store.url


async def test_put_then_get_round_trips(metadata_store: MetadataStore) -> None:
    assert await metadata_store.get(Kind.FEATURES, "amount") is None
    await metadata_store.write([Put(Kind.FEATURES, "amount", DOC)])
    assert await metadata_store.get(Kind.FEATURES, "amount") == DOC
    assert await metadata_store.get(Kind.FEATURES, "other") is None


async def test_kinds_are_separate(metadata_store: MetadataStore) -> None:
    await metadata_store.write(
        [Put(Kind.FEATURES, "x", {"v": "feature"}), Put(Kind.ENTITIES, "x", {"v": "entity"})]
    )
    assert await metadata_store.get(Kind.FEATURES, "x") == {"v": "feature"}
    assert await metadata_store.get(Kind.ENTITIES, "x") == {"v": "entity"}
    assert await metadata_store.get(Kind.GROUPS, "x") is None
    await metadata_store.write([Delete(Kind.FEATURES, "x")])
    assert await metadata_store.get(Kind.ENTITIES, "x") == {"v": "entity"}


async def test_put_replaces_doc_and_ref(metadata_store: MetadataStore) -> None:
    await metadata_store.write([Put(Kind.VERSIONS, "f@1.0.0", {"v": 1}, ref="f")])
    await metadata_store.write([Put(Kind.VERSIONS, "f@1.0.0", {"v": 2}, ref="g")])
    assert await metadata_store.get(Kind.VERSIONS, "f@1.0.0") == {"v": 2}
    assert await metadata_store.list(Kind.VERSIONS, ref="f") == []
    assert await metadata_store.list(Kind.VERSIONS, ref="g") == [{"v": 2}]


async def test_every_kind_is_usable(metadata_store: MetadataStore) -> None:
    await metadata_store.write([Put(kind, "k", {"kind": kind.value}) for kind in Kind])
    for kind in Kind:
        assert await metadata_store.list(kind) == [{"kind": kind.value}]


async def test_delete(metadata_store: MetadataStore) -> None:
    await metadata_store.write([Put(Kind.ENTITIES, "customer", {"name": "customer"})])
    await metadata_store.write([Delete(Kind.ENTITIES, "customer", must_exist=True)])
    assert await metadata_store.get(Kind.ENTITIES, "customer") is None
    # deleting a missing key is fine unless it must exist
    await metadata_store.write([Delete(Kind.ENTITIES, "customer")])
    with pytest.raises(NotFoundError):
        await metadata_store.write([Delete(Kind.ENTITIES, "customer", must_exist=True)])


async def test_create_only_conflict_raises_and_keeps_the_stored_doc(metadata_store: MetadataStore) -> None:
    await metadata_store.write([Put(Kind.FEATURES, "amount", {"v": 1}, create_only=True)])
    with pytest.raises(AlreadyExistsError) as info:
        await metadata_store.write([Put(Kind.FEATURES, "amount", {"v": 2}, create_only=True)])
    assert "amount" in info.value.message
    assert await metadata_store.get(Kind.FEATURES, "amount") == {"v": 1}


async def test_create_only_twice_in_one_write_conflicts(metadata_store: MetadataStore) -> None:
    with pytest.raises(AlreadyExistsError):
        await metadata_store.write(
            [
                Put(Kind.FEATURES, "amount", {"v": 1}, create_only=True),
                Put(Kind.FEATURES, "amount", {"v": 2}, create_only=True),
            ]
        )
    assert await metadata_store.get(Kind.FEATURES, "amount") is None


async def test_failed_write_applies_nothing(metadata_store: MetadataStore) -> None:
    await metadata_store.write(
        [Put(Kind.ENTITIES, "customer", {"v": 1}), Put(Kind.FEATURES, "taken", {"v": "old"})]
    )
    ops = [
        Put(Kind.FEATURES, "new", {"v": 1}, create_only=True),
        Put(Kind.HISTORY, "h1", {"v": 1}, ref="new"),
        Put(Kind.ENTITIES, "customer", {"v": 2}),
        Delete(Kind.FEATURES, "taken"),
        Put(Kind.FEATURES, "taken", {"v": "conflict"}, create_only=True),  # fine: deleted above
        Delete(Kind.GROUPS, "missing", must_exist=True),  # fails the whole write
    ]
    with pytest.raises(NotFoundError):
        await metadata_store.write(ops)
    assert await metadata_store.get(Kind.FEATURES, "new") is None
    assert await metadata_store.list(Kind.HISTORY) == []
    assert await metadata_store.get(Kind.ENTITIES, "customer") == {"v": 1}
    assert await metadata_store.get(Kind.FEATURES, "taken") == {"v": "old"}

    with pytest.raises(AlreadyExistsError):
        await metadata_store.write(
            [Put(Kind.FEATURES, "new", {"v": 1}), Put(Kind.ENTITIES, "customer", {"v": 3}, create_only=True)]
        )
    assert await metadata_store.get(Kind.FEATURES, "new") is None
    # the store is still usable after a failed write
    await metadata_store.write([Put(Kind.FEATURES, "new", {"v": 9})])
    assert await metadata_store.get(Kind.FEATURES, "new") == {"v": 9}


async def test_ops_apply_in_order(metadata_store: MetadataStore) -> None:
    await metadata_store.write(
        [
            Put(Kind.FEATURES, "a", {"v": 1}),
            Put(Kind.FEATURES, "a", {"v": 2}),
            Put(Kind.FEATURES, "b", {"v": 1}),
            Delete(Kind.FEATURES, "b", must_exist=True),
        ]
    )
    assert await metadata_store.get(Kind.FEATURES, "a") == {"v": 2}
    assert await metadata_store.get(Kind.FEATURES, "b") is None


async def test_empty_write_is_a_no_op(metadata_store: MetadataStore) -> None:
    await metadata_store.write([])
    assert await metadata_store.list(Kind.FEATURES) == []


async def test_list_is_ordered_by_key_and_filters_by_ref(metadata_store: MetadataStore) -> None:
    assert await metadata_store.list(Kind.VERSIONS) == []
    keys = ["b@2.0.0", "a@1.0.0", "b@1.0.0", "a@1.1.0", "c@1.0.0"]
    await metadata_store.write([Put(Kind.VERSIONS, k, {"key": k}, ref=k.split("@")[0]) for k in keys])
    await metadata_store.write([Put(Kind.VERSIONS, "z", {"key": "z"})])  # no ref
    assert [d["key"] for d in await metadata_store.list(Kind.VERSIONS)] == sorted([*keys, "z"])
    assert [d["key"] for d in await metadata_store.list(Kind.VERSIONS, ref="b")] == ["b@1.0.0", "b@2.0.0"]
    assert [d["key"] for d in await metadata_store.list(Kind.VERSIONS, ref="a")] == ["a@1.0.0", "a@1.1.0"]
    assert await metadata_store.list(Kind.VERSIONS, ref="nope") == []
    assert await metadata_store.list(Kind.FEATURES, ref="a") == []


async def test_find_filters_counts_and_pages_in_key_order(metadata_store: MetadataStore) -> None:
    docs = [
        {"name": f"Amount_{i:02d}", "group": "g" if i % 2 else None, "tags": ["even"] if i % 2 == 0 else []}
        for i in range(12)
    ]
    await metadata_store.write([Put(Kind.FEATURES, d["name"], d) for d in reversed(docs)])
    await metadata_store.write([Put(Kind.ENTITIES, "Amount_99", {"name": "Amount_99"})])  # another kind

    def names(found: list[dict[str, object]]) -> list[object]:
        return [d["name"] for d in found]

    everything, total = await metadata_store.find(Kind.FEATURES, Query())
    assert names(everything) == [d["name"] for d in docs] and total == 12
    page, total = await metadata_store.find(Kind.FEATURES, Query(), limit=5, offset=10)
    assert names(page) == ["Amount_10", "Amount_11"] and total == 12
    assert await metadata_store.find(Kind.FEATURES, Query(), limit=0) == ([], 12)
    assert await metadata_store.find(Kind.FEATURES, Query(), limit=5, offset=40) == ([], 12)
    odd, total = await metadata_store.find(Kind.FEATURES, Query(equals={"group": "g"}), limit=2, offset=1)
    assert names(odd) == ["Amount_03", "Amount_05"] and total == 6
    even, total = await metadata_store.find(Kind.FEATURES, Query(contains={"tags": "even"}))
    assert names(even) == [d["name"] for d in docs[::2]] and total == 6
    search = Query(key_contains="ount_1", contains={"tags": "even"})
    assert names((await metadata_store.find(Kind.FEATURES, search))[0]) == ["Amount_10"]
    assert (await metadata_store.find(Kind.FEATURES, Query(key_contains="AMOUNT_0.")))[1] == 0  # no regex
    assert (await metadata_store.find(Kind.FEATURES, Query(key_contains="amount_0")))[1] == 10
    assert await metadata_store.find(Kind.FEATURES, Query(equals={"group": "none"})) == ([], 0)
    with pytest.raises(ValueError):
        Query(equals={"a') OR 1=1 --": 1})


async def test_another_client_sees_committed_writes(
    metadata_store: MetadataStore, other_metadata_store: MetadataStore
) -> None:
    await metadata_store.write([Put(Kind.ENTITIES, "customer", {"v": 1})])
    assert await other_metadata_store.get(Kind.ENTITIES, "customer") == {"v": 1}
    await other_metadata_store.write([Delete(Kind.ENTITIES, "customer", must_exist=True)])
    assert await metadata_store.get(Kind.ENTITIES, "customer") is None


# How long a backend's generation() may take to reflect another client's commit: SQLite reads
# it from the file at once; MongoDB follows a change stream in the background (milliseconds,
# at most STALE_SECONDS).
GENERATION_DELAY = {"sqlite": 0.0, "mongodb": 2.0}


async def generation_after_change(store: MetadataStore, old: int) -> int:
    """``store.generation()`` once it differs from ``old``, waiting at most the backend's delay."""
    deadline = time.monotonic() + GENERATION_DELAY[urlsplit(store.url).scheme.split("+")[0]]
    while True:
        value = await store.generation()
        if value != old or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(0.002)


async def test_generation_changes_when_another_client_writes(
    metadata_store: MetadataStore, other_metadata_store: MetadataStore
) -> None:
    first = await metadata_store.generation()
    await metadata_store.get(Kind.FEATURES, "x")
    assert await metadata_store.generation() == first  # stable while nobody writes
    await other_metadata_store.write([Put(Kind.FEATURES, "x", {"v": 1})])
    second = await generation_after_change(metadata_store, first)
    assert second != first
    assert await metadata_store.generation() == second
    await other_metadata_store.write([Delete(Kind.FEATURES, "x")])
    assert await generation_after_change(metadata_store, second) != second


async def test_data_survives_reopening(metadata_store: MetadataStore) -> None:
    await metadata_store.write([Put(Kind.ENTITIES, "customer", {"v": 1}, ref="r")])
    await metadata_store.open()  # idempotent
    reopened = create_metadata_store(metadata_store.url)
    await reopened.open()
    await reopened.open()
    try:
        assert await reopened.list(Kind.ENTITIES, ref="r") == [{"v": 1}]
    finally:
        await reopened.close()


async def test_ping(metadata_store: MetadataStore) -> None:
    info = await metadata_store.ping()
    assert isinstance(info["backend"], str) and info["backend"]
    assert isinstance(info["version"], str) and info["version"]


_WRITER = """
from fstore.backends.metadata.base import Kind, Put

async def main(url, tag, count):
    store = create_metadata_store(url)
    await store.open()
    await start_together()
    start = time.time()
    for i in range(int(count)):
        await store.write([
            Put(Kind.HISTORY, f"{tag}-{i:04d}", {"tag": tag, "i": i}, ref=tag),
            Put(Kind.FEATURES, "shared", {"last": tag}),
        ])
    print(start, time.time())
    await store.close()
"""


def assert_overlapped(outputs: list[str]) -> None:
    """The workers' write periods overlapped (else the test proved nothing)."""
    spans = [tuple(map(float, out.split())) for out in outputs]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans


async def test_concurrent_writers_in_two_processes_lose_nothing(
    metadata_store: MetadataStore, run_processes
) -> None:
    count = 500
    outputs = await run_processes(_WRITER, [[metadata_store.url, tag, str(count)] for tag in ("a", "b")])
    assert_overlapped(outputs)
    for tag in ("a", "b"):
        docs = await metadata_store.list(Kind.HISTORY, ref=tag)
        assert [d["i"] for d in docs] == list(range(count))
    assert len(await metadata_store.list(Kind.HISTORY)) == 2 * count
    assert (await metadata_store.get(Kind.FEATURES, "shared"))["last"] in ("a", "b")


# -- SQLite specifics ---------------------------------------------------------------------------


async def test_sqlite_creates_parent_directories_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "metadata.db"
    store = SQLiteMetadataStore(f"sqlite:///{path}")
    assert store.url == f"sqlite:///{path}"
    await store.open()
    try:
        await store.write([Put(Kind.FEATURES, "a", {"v": 1})])
        info = await store.ping()
        assert info["backend"] == "sqlite"
        assert info["version"] == sqlite3.sqlite_version
        assert Path(info["path"]) == path.resolve()
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {k.value for k in Kind}
    finally:
        conn.close()


async def test_sqlite_relative_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SQLiteMetadataStore("sqlite:///rel/meta.db")
    await store.open()
    await store.close()
    assert (tmp_path / "rel" / "meta.db").is_file()


async def test_sqlite_unopenable_file_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "not_a_dir").write_text("x")
    store = SQLiteMetadataStore(f"sqlite:///{tmp_path / 'not_a_dir' / 'metadata.db'}")
    with pytest.raises(StoreUnavailableError) as info:
        await store.open()
    assert info.value.details["store"] == "sqlite metadata"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailableError):
        await SQLiteMetadataStore(f"sqlite:///{garbage}").open()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreUnavailableError, match="newer"):
        await SQLiteMetadataStore(f"sqlite:///{path}").open()


async def test_sqlite_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteMetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(StoreUnavailableError):
        await store.get(Kind.FEATURES, "a")


# -- MongoDB specifics --------------------------------------------------------------------------


@pytest.fixture
async def mongo_store(mongo_server: str) -> AsyncIterator[MongoMetadataStore]:
    url = database_url(mongo_server, f"fstore_{uuid.uuid4().hex}")
    store = MongoMetadataStore(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        drop_database(url)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_mongodb_unreachable_server_fails_fast() -> None:
    port = _closed_port()
    store = MongoMetadataStore(f"mongodb://127.0.0.1:{port}/fstore?retryWrites=false")
    with pytest.raises(StoreUnavailableError) as not_open:
        await store.get(Kind.FEATURES, "a")
    assert "not open" in not_open.value.message
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        await store.open()  # default timeouts (5 s server selection)
    assert time.monotonic() - start < 10
    assert info.value.details["store"] == "mongodb metadata"
    assert f"127.0.0.1:{port}" in info.value.message
    # the URL's own options win over the defaults
    quick = MongoMetadataStore(f"mongodb://127.0.0.1:{port}/?serverselectiontimeoutms=300")
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        await quick.open()
    assert time.monotonic() - start < 3


def test_mongodb_url_masking() -> None:
    assert (
        mask_url("mongodb://u:p%40ss@h1:1,h2:2/db?replicaSet=rs")
        == "mongodb://u:***@h1:1,h2:2/db?replicaSet=rs"
    )
    assert mask_url("mongodb://h/db?tlsCertificateKeyFilePassword=x&w=1") == (
        "mongodb://h/db?tlsCertificateKeyFilePassword=%2A%2A%2A&w=1"
    )
    assert mask_url("mongodb://u@h/") == "mongodb://u@h/"


async def test_mongodb_documents_indexes_and_ping(mongo_store: MongoMetadataStore) -> None:
    await mongo_store.write([Put(Kind.VERSIONS, "f@1.0.0", DOC, ref="f"), Put(Kind.ENTITIES, "c", {"v": 1})])
    client: MongoClient = MongoClient(mongo_store.url)
    try:
        db = client.get_default_database()
        assert db.feature_versions.find_one() == {"_id": "f@1.0.0", "ref": "f", "doc": DOC}
        assert db.entities.find_one() == {"_id": "c", "ref": None, "doc": {"v": 1}}
        assert db.meta.find_one() == {"_id": "state", "schema_version": 1, "generation": 1}
        assert set(db.list_collection_names()) == {k.value for k in Kind} | {"meta"}
        for kind in Kind:
            assert db[kind.value].index_information()["ref_key"]["key"] == [("ref", 1), ("_id", 1)]
    finally:
        client.close()
    info = await mongo_store.ping()
    assert info["backend"] == "mongodb"
    assert info["database"] == urlsplit(mongo_store.url).path.strip("/")
    assert info["url"] == mongo_store.url  # no password to mask here


async def test_mongodb_generation_is_local_and_prompt(mongo_store: MongoMetadataStore) -> None:
    start = time.perf_counter()
    for _ in range(10_000):
        await mongo_store.generation()
    assert time.perf_counter() - start < 0.5  # a round trip each would take seconds
    other = MongoMetadataStore(mongo_store.url)
    await other.open()
    try:
        first = await mongo_store.generation()
        start = time.monotonic()
        await other.write([Put(Kind.FEATURES, "x", {"v": 1})])
        assert await generation_after_change(mongo_store, first) != first
        assert time.monotonic() - start < 0.5  # a change stream, not the staleness fallback
    finally:
        await other.close()


async def test_mongodb_generation_without_change_streams(
    mongo_store: MongoMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_watch(self: object, *args: object, **kwargs: object) -> None:
        raise OperationFailure("The $changeStream stage is only supported on replica sets", code=40573)

    monkeypatch.setattr(AsyncCollection, "watch", no_watch)
    polled = MongoMetadataStore(mongo_store.url)
    await polled.open()
    try:
        first = await polled.generation()
        await mongo_store.write([Put(Kind.FEATURES, "x", {"v": 1})])
        await asyncio.sleep(mongodb.POLL_SECONDS * 3)
        assert polled._polling
        assert await polled.generation() != first
    finally:
        await polled.close()


def test_mongodb_generation_after_the_loop_was_idle(mongo_server: str) -> None:
    """The blocking twin runs its loop only during calls: the watcher cannot run in between, so
    a generation older than STALE_SECONDS is read again."""
    url = database_url(mongo_server, f"fstore_{uuid.uuid4().hex}")
    loop = asyncio.new_event_loop()
    store = MongoMetadataStore(url)
    client: MongoClient = MongoClient(url)
    try:
        loop.run_until_complete(store.open())
        first = loop.run_until_complete(store.generation())
        client.get_default_database().meta.update_one({"_id": "state"}, {"$inc": {"generation": 1}})
        time.sleep(mongodb.STALE_SECONDS + 0.1)
        assert loop.run_until_complete(store.generation()) == first + 1
    finally:
        loop.run_until_complete(store.close())
        loop.close()
        client.close()
        drop_database(url)


async def test_mongodb_refuses_a_newer_schema(mongo_store: MongoMetadataStore) -> None:
    client: MongoClient = MongoClient(mongo_store.url)
    try:
        client.get_default_database().meta.update_one({"_id": "state"}, {"$set": {"schema_version": 99}})
    finally:
        client.close()
    with pytest.raises(StoreUnavailableError, match="newer"):
        await MongoMetadataStore(mongo_store.url).open()
