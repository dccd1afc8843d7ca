"""The production metadata store on MongoDB (``mongodb://[user:pass@]host:port/database?options``).

Layout (database = the URL's path, ``fstore`` if empty):

* one collection per ``Kind``, named after it (``entities``, ``features``, ``feature_groups``,
  ``feature_versions``, ``transformers``, ``history``). A document is stored as
  ``{"_id": key, "ref": ref, "doc": {...the registry's dict...}}``: the registry's fields are
  nested under ``doc`` so that none of them can collide with ``_id`` or ``ref``. Each collection
  has an index ``ref_key`` on ``(ref, _id)``, which serves ``list(kind, ref=…)`` in key order;
  the key itself is ``_id`` (a feature version's key is ``name@version``, so ``_id`` already
  makes ``(feature, version)`` unique and no second unique index is needed).
* ``meta``: one document ``{"_id": "state", "schema_version": 1, "generation": N}``.

``open()`` creates the indexes and then the state document when the state document is missing;
so opening an existing store costs two reads (a ping and the state) and works with read-only
rights. A store whose ``schema_version`` is newer than this code is refused.

Writes: every ``write(ops)`` is one multi-document transaction that first increments
``meta.state.generation`` and then applies the ops in order. Because every write touches that
document, concurrent writers conflict on it first (before doing other work) and the loser
retries (``TransientTransactionError``, jittered exponential backoff, for at most
``WRITE_RETRY_SECONDS``). Transactions need a replica set or a sharded cluster (a single-node
replica set is enough); on a standalone ``mongod`` a write fails with ``ConfigurationError``.

Generation: ``generation()`` answers from a local copy and does no network round trip. A
background task started by ``open()`` and stopped by ``close()`` keeps that copy current by
following a change stream on ``meta`` (SecantusDB delivers a change in 1–5 ms), or, where
change streams are unsupported, by polling every ``POLL_SECONDS``. If the task has not
confirmed the copy for ``STALE_SECONDS`` (its event loop was not running, as in the blocking
twin between calls), ``generation()`` reads the counter itself. So another client's commit is
seen within milliseconds, and never later than ``STALE_SECONDS``. This instance's own writes
change the generation too.

Errors: an unreachable server fails within the (short, URL-overridable) timeouts with
``StoreUnavailableError(store="mongodb metadata")``, naming the hosts (never the password).
While the watcher sees the server unreachable, ``generation()`` raises that error at once
rather than waiting for a server selection timeout on every call.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pymongo
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConfigurationError as MongoConfigurationError
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    InvalidName,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)

from fstore.backends.metadata.base import KIND_NOUNS, Delete, Kind, Put, Query, Write
from fstore.errors import AlreadyExistsError, ConfigurationError, NotFoundError, StoreUnavailableError

log = logging.getLogger(__name__)

STORE = "mongodb metadata"
DEFAULT_DATABASE = "fstore"
SCHEMA_VERSION = 1
META = "meta"
STATE_ID = "state"

# Client options unless the URL sets them (option names are case-insensitive in URLs).
DEFAULT_OPTIONS = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    "socketTimeoutMS": 5000,
    "appname": "fstore",
}
WRITE_RETRY_SECONDS = 20.0  # how long a write retries transaction conflicts
WATCH_AWAIT_MS = 250  # a change stream getMore returns at least this often
POLL_SECONDS = 0.1  # without change streams
STALE_SECONDS = 1.0  # older than this, generation() reads the counter itself
RETRY_SECONDS = 0.5  # the watcher's pause after an error
CLOSE_WAIT_SECONDS = 0.5  # how long close() waits for the watcher, and for the client
GENERATION_READ_SECONDS = 1.0  # the bound on generation()'s own read (when the watcher is stale)
FAILURE_SECONDS = 5.0  # how long generation() trusts a connection failure the watcher saw
_TRANSACTIONS_UNSUPPORTED = 20  # IllegalOperation: "Transaction numbers are only allowed on a replica set…"

_SECRET_PARAMS = ("password", "secret", "token")


def mask_url(url: str) -> str:
    """``url`` with the password of its user info (and secret-looking options) replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hosts}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    secret = [any(s in k.lower() for s in _SECRET_PARAMS) for k, _ in pairs]
    if any(secret):
        query = urlencode([(k, "***" if hide else v) for (k, v), hide in zip(pairs, secret, strict=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _hosts(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or "localhost"


def _filter(query: Query) -> dict[str, Any]:
    """``query`` as a MongoDB filter on the nested documents (a list field matches an element)."""
    where: dict[str, Any] = {f"doc.{name}": value for name, value in query.equals.items()}
    where.update({f"doc.{name}": value for name, value in query.contains.items()})
    if query.key_contains is not None:
        where["_id"] = {"$regex": re.escape(query.key_contains), "$options": "i"}
    return where


class _Conflict(Exception):
    """A write lost a race in a way the server does not label transient (an upsert's duplicate key)."""


class MongoMetadataStore:
    """``MetadataStore`` on MongoDB (or a wire-compatible server) through pymongo's asyncio client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._where = _hosts(url)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._colls: dict[Kind, AsyncCollection[dict[str, Any]]] = {}
        self._meta: AsyncCollection[dict[str, Any]] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._generation = 0
        self._fresh_until = 0.0  # monotonic time until which the local generation is trusted
        self._failure: tuple[float, BaseException] | None = None  # (until, error) seen by the watcher
        self._polling = False
        self._stop: asyncio.Event | None = None  # set by close(): the watcher's signal to stop

    # -- lifecycle ----------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        given = {k.lower() for k, _ in parse_qsl(urlsplit(self.url).query, keep_blank_values=True)}
        return {k: v for k, v in DEFAULT_OPTIONS.items() if k.lower() not in given}

    async def open(self) -> None:
        if self._client is not None:
            return
        try:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.url, **self._options())
        except (InvalidURI, MongoConfigurationError, ValueError, TypeError) as exc:
            raise self._bad_url(exc) from exc
        try:
            try:
                db = client.get_default_database(DEFAULT_DATABASE)
            except (InvalidName, MongoConfigurationError) as exc:
                raise self._bad_url(exc) from exc
            colls = {kind: db[kind.value] for kind in Kind}
            meta = db[META]
            with self._guard("cannot open"):
                await db.command("ping")
                state = await meta.find_one({"_id": STATE_ID}) or await self._create(colls, meta)
            version = state.get("schema_version", SCHEMA_VERSION)
            if version > SCHEMA_VERSION:
                raise StoreUnavailableError(
                    f"the {STORE} store at {self._where} has schema version {version}, newer than this "
                    f"FStore understands ({SCHEMA_VERSION}); upgrade FStore",
                    store=STORE,
                )
        except BaseException:
            await client.close()
            raise
        self._client, self._colls, self._meta = client, colls, meta
        self._set_generation(int(state.get("generation", 0)), exact=True)
        self._failure = None
        self._stop = asyncio.Event()
        self._watcher = asyncio.get_running_loop().create_task(
            self._watch(meta, self._stop), name="fstore-mongo-generation"
        )

    def _bad_url(self, exc: Exception) -> ConfigurationError:
        return ConfigurationError(f"invalid MongoDB metadata URL {mask_url(self.url)!r}: {exc}")

    async def _create(
        self, colls: dict[Kind, AsyncCollection[dict[str, Any]]], meta: AsyncCollection[dict[str, Any]]
    ) -> dict[str, Any]:
        """Indexes, then the state document: once it exists, so do they. So opening an existing
        store is two reads, and works for a user with read-only rights."""
        for coll in colls.values():
            await coll.create_index([("ref", ASCENDING), ("_id", ASCENDING)], name="ref_key")
        initial = {"schema_version": SCHEMA_VERSION, "generation": 0}
        with suppress(DuplicateKeyError):  # two clients creating it at once: one wins
            await meta.update_one({"_id": STATE_ID}, {"$setOnInsert": initial}, upsert=True)
        return await meta.find_one({"_id": STATE_ID}) or initial

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        client, self._client = self._client, None
        self._colls, self._meta = {}, None
        self._fresh_until = 0.0
        if self._stop is not None:
            self._stop.set()
        if watcher is not None:
            watcher.cancel()
            await asyncio.wait({watcher}, timeout=CLOSE_WAIT_SECONDS)
        if client is not None:
            # Also interrupts the watcher's operation if the cancellation did not: pymongo's
            # asyncio client can lose a cancellation that arrives while a change-stream getMore
            # is in flight (seen against SecantusDB right after a burst of transactions).
            # The bound: closing ends the server sessions, which would wait for a server
            # selection timeout when the server is down.
            with suppress(PyMongoError), pymongo.timeout(CLOSE_WAIT_SECONDS):
                await client.close()
        if watcher is not None and not watcher.done():
            await asyncio.wait({watcher}, timeout=CLOSE_WAIT_SECONDS)
            if not watcher.done():
                log.warning("mongodb metadata: the generation watcher did not stop")
        if watcher is not None and watcher.done() and not watcher.cancelled():
            watcher.exception()  # retrieved: never "exception was never retrieved"

    def _require_open(self) -> AsyncMongoClient[dict[str, Any]]:
        if self._client is None:
            raise StoreUnavailableError(f"the {STORE} store is not open", store=STORE)
        return self._client

    @contextmanager
    def _guard(self, doing: str = "failed") -> Iterator[None]:
        """Turns pymongo failures into ``StoreUnavailableError`` naming the server."""
        try:
            yield
        except ConnectionFailure as exc:  # also ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout
            raise StoreUnavailableError(
                f"the {STORE} store at {self._where} is unreachable ({doing}): {exc}", store=STORE
            ) from exc
        except PyMongoError as exc:
            raise StoreUnavailableError(
                f"the {STORE} store at {self._where} {doing}: {exc}", store=STORE
            ) from exc

    # -- reads --------------------------------------------------------------------------------

    async def get(self, kind: Kind, key: str) -> dict[str, Any] | None:
        self._require_open()
        with self._guard():
            found = await self._colls[Kind(kind)].find_one({"_id": key}, {"_id": 0, "doc": 1})
        return None if found is None else found["doc"]

    async def list(self, kind: Kind, ref: str | None = None) -> list[dict[str, Any]]:
        self._require_open()
        query = {} if ref is None else {"ref": ref}
        with self._guard():
            cursor = self._colls[Kind(kind)].find(query, {"_id": 0, "doc": 1})
            docs = await cursor.sort("_id", ASCENDING).batch_size(100_000).to_list()
        return [d["doc"] for d in docs]

    async def find(
        self, kind: Kind, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        self._require_open()
        coll = self._colls[Kind(kind)]
        where = _filter(query)
        with self._guard():
            total = await coll.count_documents(where)
            docs: list[dict[str, Any]] = []
            if limit != 0 and offset < total:
                cursor = coll.find(where, {"_id": 0, "doc": 1}).sort("_id", ASCENDING).skip(offset)
                docs = await (cursor if limit is None else cursor.limit(limit)).to_list()
        return [d["doc"] for d in docs], total

    # -- writes -------------------------------------------------------------------------------

    async def write(self, ops: Sequence[Write]) -> None:
        if not ops:
            return
        for op in ops:
            if not isinstance(op, Put | Delete):
                raise TypeError(f"not a metadata write: {op!r}")
        client = self._require_open()
        deadline = time.monotonic() + WRITE_RETRY_SECONDS
        attempt = 0
        with self._guard("write failed"):
            async with client.start_session() as session:
                while True:
                    try:
                        async with await session.start_transaction():
                            await self._apply(session, ops)
                        return
                    except (PyMongoError, _Conflict) as exc:
                        if isinstance(exc, OperationFailure) and exc.code == _TRANSACTIONS_UNSUPPORTED:
                            raise ConfigurationError(
                                f"the {STORE} store at {self._where} needs multi-document transactions: "
                                "use a replica set (a single-node one is enough) or a sharded cluster, "
                                f"not a standalone server ({exc})"
                            ) from exc
                        if not _transient(exc) or time.monotonic() > deadline:
                            if isinstance(exc, _Conflict):
                                raise StoreUnavailableError(
                                    f"the {STORE} store at {self._where}: write kept conflicting", store=STORE
                                ) from exc
                            raise
                    attempt += 1
                    await asyncio.sleep(random.random() * min(0.005 * 1.5**attempt, 0.5))

    async def _apply(self, session: Any, ops: Sequence[Write]) -> None:
        assert self._meta is not None
        try:
            # First, so that concurrent writers conflict before doing any other work.
            await self._meta.update_one(
                {"_id": STATE_ID},
                {"$inc": {"generation": 1}, "$setOnInsert": {"schema_version": SCHEMA_VERSION}},
                upsert=True,
                session=session,
            )
        except DuplicateKeyError as exc:
            raise _Conflict() from exc
        colls = self._colls
        for op in ops:
            kind = Kind(op.kind)
            coll = colls[kind]
            if isinstance(op, Put):
                record = {"_id": op.key, "ref": op.ref, "doc": op.doc}
                if op.create_only:
                    try:
                        await coll.insert_one(record, session=session)
                    except DuplicateKeyError as exc:
                        raise AlreadyExistsError(
                            f"{KIND_NOUNS[kind]} {op.key!r} already exists", kind=kind.value, key=op.key
                        ) from exc
                else:
                    try:
                        await coll.replace_one({"_id": op.key}, record, upsert=True, session=session)
                    except DuplicateKeyError as exc:  # a concurrent insert of the same new key
                        raise _Conflict() from exc
            else:
                result = await coll.delete_one({"_id": op.key}, session=session)
                if op.must_exist and result.deleted_count == 0:
                    raise NotFoundError(
                        f"{KIND_NOUNS[kind]} {op.key!r} does not exist", kind=kind.value, key=op.key
                    )

    # -- generation ---------------------------------------------------------------------------

    async def generation(self) -> int:
        """The write counter as last seen by the watcher: no network round trip while the watcher
        is current; else one read (see the module docstring)."""
        self._require_open()
        now = time.monotonic()
        if now < self._fresh_until:
            return self._generation
        failure = self._failure
        if failure is not None and now < failure[0]:
            raise StoreUnavailableError(
                f"the {STORE} store at {self._where} is unreachable: {failure[1]}", store=STORE
            ) from failure[1]
        try:
            with self._guard(), pymongo.timeout(GENERATION_READ_SECONDS):
                await self._refresh()
        except StoreUnavailableError as exc:
            if isinstance(exc.__cause__, ConnectionFailure):
                self._failure = (time.monotonic() + FAILURE_SECONDS, exc.__cause__)
            raise
        return self._generation

    def _set_generation(self, value: int, exact: bool = False) -> None:
        # The counter only grows, so an event older than a value already read is ignored; an
        # exact read (after a drop, say) wins.
        if exact or value > self._generation:
            self._generation = value
        self._fresh_until = time.monotonic() + STALE_SECONDS
        self._failure = None

    async def _refresh(self, meta: AsyncCollection[dict[str, Any]] | None = None) -> None:
        meta = meta if meta is not None else self._meta
        assert meta is not None
        state = await meta.find_one({"_id": STATE_ID}, {"generation": 1})
        self._set_generation(int((state or {}).get("generation", 0)), exact=True)

    async def _watch(self, meta: AsyncCollection[dict[str, Any]], stop: asyncio.Event) -> None:
        """Runs from ``open()`` to ``close()``: keeps the local generation current."""
        while not stop.is_set():
            try:
                if self._polling:
                    await self._refresh(meta)
                    await _sleep(stop, POLL_SECONDS)
                else:
                    await self._follow(meta, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if stop.is_set():
                    return
                log.debug("mongodb metadata generation watcher: %s", exc)
                if isinstance(exc, ConnectionFailure):
                    # Remembered until the watcher reconnects (or FAILURE_SECONDS pass without
                    # it running): meanwhile generation() fails at once instead of waiting for
                    # a server selection timeout on every call.
                    self._failure = (time.monotonic() + FAILURE_SECONDS, exc)
                await _sleep(stop, RETRY_SECONDS)

    async def _follow(self, meta: AsyncCollection[dict[str, Any]], stop: asyncio.Event) -> None:
        try:
            stream = await meta.watch(max_await_time_ms=WATCH_AWAIT_MS)
        except OperationFailure as exc:  # e.g. a standalone server: no change streams
            log.info("mongodb metadata: no change streams (%s); polling every %ss", exc, POLL_SECONDS)
            self._polling = True
            return
        async with stream:
            await self._refresh(meta)  # after the stream exists: no change can fall in between
            while stream.alive and not stop.is_set():
                change = await stream.try_next()
                if change is None:
                    self._set_generation(self._generation)  # still current
                    continue
                value = (change.get("updateDescription") or {}).get("updatedFields", {}).get("generation")
                if value is None:
                    value = (change.get("fullDocument") or {}).get("generation")
                if value is None:
                    await self._refresh(meta)  # a delete, drop or invalidate: read what is there
                else:
                    self._set_generation(int(value))

    # -- doctor -------------------------------------------------------------------------------

    async def ping(self) -> dict[str, Any]:
        client = self._require_open()
        with self._guard():
            info = await client.server_info()
        return {
            "backend": "mongodb",
            "version": str(info.get("version", "unknown")),
            "url": mask_url(self.url),
            "database": client.get_default_database(DEFAULT_DATABASE).name,
        }


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set."""
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _transient(exc: BaseException) -> bool:
    """Worth retrying the whole transaction: a conflict, not an unreachable server."""
    if isinstance(exc, _Conflict):
        return True
    if isinstance(exc, ConnectionFailure):
        return False
    return isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")
