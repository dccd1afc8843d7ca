"""The Redis online store, for a single Redis server or a Redis Cluster (``redis.asyncio``).

URL: ``redis://[[user]:password@]host:port/DB`` (DB number = path, default 0), ``rediss://``
for TLS. Query options:

* ``cluster=true``: a Redis Cluster (give any node; DB must be 0);
* ``prefix=NAME``: put every key under ``NAME`` (e.g. ``prefix=team1:``), so several stores
  (or tests, or benchmarks) share a server; ``delete_prefix()`` deletes a store's keys;
* ``socket_timeout`` / ``socket_connect_timeout`` (seconds, default 2): an unreachable or
  stuck Redis fails fast with ``StoreUnavailableError`` instead of hanging;
* ``max_connections`` (default 64): connections of a single server's pool (more callers
  wait up to ``timeout`` seconds, default 5, for one) or, on a cluster, operations at once;
* any other redis-py URL option (``ssl_cert_reqs``, ``health_check_interval``, …).

Keys are the specification's (behind the optional prefix):

* ``feature_value:{feature_id}:{entity_id}``: a string, the value record of one feature for
  one entity, ``orjson.dumps([event_ts_us, value, transformed, version])``: what ``read``
  returns, decoded with one ``orjson.loads`` (no slicing, no hash: a read of any number of
  keys is one ``MGET``). The record starts with ``[<event time>,``, so the Lua scripts read
  the event time with one pattern match. The entity name is not part of the key: feature
  ids are global and a feature belongs to one entity;
* ``feature:{feature_id}``: cached feature metadata (orjson);
* ``transformer:{feature_id}:{version}``: cached fitted transformers (orjson).

Writes are last-write-wins by event time, decided *on the server* by a Lua script
(``redis_scripts.py``: ``GET``, compare, ``SET``), so concurrent writers (tasks, processes,
hosts) can never replace a newer value with an older one: a stored newer event is kept, an
equal one is replaced. A call is first reduced to the newest record per key, then sent as
script calls of at most ``SCRIPT_KEYS`` keys, pipelined. A feature's ``ttl_seconds``
becomes the key's expiry, counted from the value's *event time* (``PXAT`` event time + TTL:
Redis drops a value when serving starts calling it expired), set by the same script.

On a cluster a script may only declare keys of one hash slot. With Redis >= 7.0 the keys
are grouped by master instead (redis-py's slot map) and passed as arguments to a script
flagged ``allow-cross-slot-keys``, routed by one of its keys: one call per master instead of
one per slot (~16,000 calls for 60,000 keys). The node itself refuses a key it does not
serve (a stale slot map, a slot being migrated) before the script writes anything; such
calls are redone slot by slot (keys declared, redirections followed by redis-py), which is
also the path of older clusters. Reads use a read-only script per master the same way
(falling back to ``mget_nonatomic``, one ``MGET`` per slot).

``delete_feature`` scans ``feature_value:{id}:*`` and ``transformer:{id}:*`` on every
master and unlinks what it finds (a value written concurrently with the delete may survive
it; there is no transaction across slots).

Every connection error, timeout or cluster error becomes ``StoreUnavailableError`` naming
the server (the URL with its password masked); the serving layer then falls back to the
offline store. A connection error is retried once at once (a pooled connection may be stale
after a server restart), a timeout is not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from fstore.backends import mask_url
from fstore.backends.online.base import OnlineRecord, OnlineWrite
from fstore.backends.online.redis_scripts import (
    READ_NODE,
    READ_NODE_SHA,
    WRITE,
    WRITE_NODE,
    WRITE_NODE_SHA,
)
from fstore.backends.online.redis_wire import (
    SCRIPT_KEYS,
    FastConnection,
    FastSSLConnection,
    by_slot,
    chunks,
    dumps,
    fast_cluster,
    glob_escape,
    newest_records,
    raise_first,
    rounds,
    rounds_of,
    slot_calls,
    strs,
    utf8,
)
from fstore.errors import ConfigurationError, StoreUnavailableError

STORE = "redis online"
DEFAULT_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 64  # per client (URL option max_connections); more callers wait for one
POOL_TIMEOUT_S = 5.0  # how long a caller waits for a free connection (URL option timeout)
READ_KEYS = 10_000  # keys per MGET (single server) or read script call (cluster)
SCAN_COUNT = 1_000
UNLINK_KEYS = 500
_TRUE = ("1", "true", "yes", "on")
# What "Redis cannot answer" looks like: redis-py errors (connection, timeout, refused
# command), cluster errors (no reachable node, slot not covered) and socket errors.
_FAILURES = (RedisError, RedisClusterException, OSError)


class RedisOnlineStore:
    """``OnlineStore`` on Redis or a Redis Cluster (see the module docstring for the URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigurationError(f"not a Redis URL: {mask_url(url)!r}")
        options: list[tuple[str, str]] = []
        self.cluster = False
        self.prefix = ""
        self._max_connections = MAX_CONNECTIONS
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "cluster":
                self.cluster = value.lower() in _TRUE
            elif name == "prefix":
                self.prefix = value
            elif name == "max_connections":
                try:
                    self._max_connections = int(value)
                except ValueError:
                    raise ConfigurationError(f"bad max_connections in {mask_url(url)!r}") from None
            else:
                options.append((name, value))
        self._client_url = parts._replace(query=urlencode(options)).geturl()
        self._where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        self._values = f"{self.prefix}feature_value:"
        self._client: Any = None
        self._node_scripts = True  # cluster: one script call per node (Redis >= 7.0)
        # Cluster: at most max_connections operations at once (each holds at most one
        # connection per node; redis-py's cluster client fails callers beyond its limit
        # instead of queueing them). A single server queues in its blocking pool instead.
        self._gate: Any = contextlib.nullcontext()

    # -- connection ---------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        kind = "Redis Cluster" if self.cluster else "Redis"
        return StoreUnavailableError(
            f"the {STORE} store ({kind} at {self._where}, {mask_url(self.url)}) failed: "
            f"{type(exc).__name__}: {exc}",
            store=STORE,
        )

    def _not_open(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"the {STORE} store ({self._where}) is not open", store=STORE)

    def _make_client(self) -> Any:
        options: dict[str, Any] = {
            "socket_timeout": DEFAULT_TIMEOUT_S,
            "socket_connect_timeout": DEFAULT_TIMEOUT_S,
            # One immediate retry on a connection error: a pooled connection may be stale
            # (the server restarted); a dead server still fails at once. Timeouts are not
            # retried, so a black-holed server costs one timeout, not several.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            "decode_responses": False,
        }
        try:
            if self.cluster:
                # headroom over the gate for redis-py's own topology refreshes
                options["max_connections"] = self._max_connections + 16
                return fast_cluster(RedisCluster.from_url(self._client_url, **options))
            url_options = parse_url(self._client_url)
            tls = url_options.pop("connection_class", None) is SSLConnection  # rediss://
            if utf8(url_options.get("encoding")):
                connection_class: type[Connection] = FastSSLConnection if tls else FastConnection
            else:
                connection_class = SSLConnection if tls else Connection
            # A blocking pool: a burst of callers beyond MAX_CONNECTIONS waits for a free
            # connection (the default pool fails them with "Too many connections").
            pool = aredis.BlockingConnectionPool(
                connection_class=connection_class,
                **{"timeout": POOL_TIMEOUT_S, **options, **url_options},
                max_connections=self._max_connections,
            )
            return aredis.Redis.from_pool(pool)
        except (ValueError, TypeError, RedisError) as exc:
            raise ConfigurationError(f"bad {STORE} store URL {mask_url(self.url)!r}: {exc}") from exc

    async def open(self) -> None:
        if self._client is not None:
            return
        client = self._make_client()
        try:
            if self.cluster:
                await client.initialize()
                # the node paths read redis-py's slot map; without it, go slot by slot
                if not isinstance(getattr(client.nodes_manager, "slots_cache", None), dict):
                    self._node_scripts = False
            await client.ping()
            await self._load_scripts(client)
        except _FAILURES as exc:
            await self._close_client(client)
            raise self._unavailable(exc) from exc
        except BaseException:
            await self._close_client(client)
            raise
        self._client = client
        if self.cluster:
            self._gate = asyncio.Semaphore(self._max_connections)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)

    @staticmethod
    async def _close_client(client: Any) -> None:
        with contextlib.suppress(*_FAILURES):  # a broken connection: nothing to save
            await client.aclose()

    async def _load_scripts(self, client: Any) -> None:
        """Load the scripts (on every master of a cluster). A cluster older than Redis 7.0
        refuses the node scripts (script flags): its writes and reads go slot by slot."""
        if not self.cluster:
            await client.execute_command("SCRIPT LOAD", WRITE)
            return
        primaries = RedisCluster.PRIMARIES
        await client.execute_command("SCRIPT LOAD", WRITE, target_nodes=primaries)
        if self._node_scripts:
            try:
                for script in (WRITE_NODE, READ_NODE):
                    await client.execute_command("SCRIPT LOAD", script, target_nodes=primaries)
            except ResponseError:
                self._node_scripts = False

    async def _pipeline(self, client: Any, calls: list[tuple[Any, ...]]) -> list[Any]:
        """Run commands in one pipeline (a cluster pipeline routes each to its node); returns
        each one's reply or exception. A script refused with NOSCRIPT (a restarted or
        failed-over server lost its script cache) is loaded and run again."""
        pipe = client.pipeline() if self.cluster else client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*call)
        results = await pipe.execute(raise_on_error=False)
        again = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if again:
            await self._load_scripts(client)
            pipe = client.pipeline() if self.cluster else client.pipeline(transaction=False)
            for i in again:
                pipe.execute_command(*calls[i])
            for i, result in zip(again, await pipe.execute(raise_on_error=False), strict=True):
                results[i] = result
        return results

    def _nodes(self, client: Any, keys: list[str]) -> dict[str, list[int]]:
        """The positions of ``keys`` grouped by the master serving them (redis-py's slot map)."""
        slots_cache = client.nodes_manager.slots_cache
        by_node: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            owners = slots_cache.get(key_slot(key.encode()))
            name = owners[0].name if owners else ""  # "": not covered; the slot path reports it
            positions = by_node.get(name)
            if positions is None:
                by_node[name] = [i]
            else:
                positions.append(i)
        return by_node

    # -- values -------------------------------------------------------------------------------

    async def read(
        self, entity: str, entity_ids: Sequence[str], feature_ids: Sequence[str]
    ) -> list[list[OnlineRecord | None]]:
        client = self._client
        if client is None:
            raise self._not_open()
        nf = len(feature_ids)
        if not entity_ids:
            return []
        if not nf:
            return [[] for _ in entity_ids]
        values = self._values
        prefixes = [f"{values}{fid}:" for fid in feature_ids]
        keys = [p + eid for eid in strs(entity_ids) for p in prefixes]
        try:
            if self.cluster:
                async with self._gate:
                    raws = await self._read_cluster(client, keys)
            elif len(keys) <= READ_KEYS:
                raws = await client.execute_command("MGET", *keys)
            else:
                calls = [("MGET", *chunk) for chunk in chunks(keys, READ_KEYS)]
                raws = [raw for part in raise_first(await self._pipeline(client, calls)) for raw in part]
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        loads = orjson.loads
        records = [None if raw is None else loads(raw) for raw in raws]
        if nf == 1:
            return [[record] for record in records]
        return [records[i : i + nf] for i in range(0, len(records), nf)]

    async def _read_cluster(self, client: Any, keys: list[str]) -> list[bytes | None]:
        """One read script per master (its keys, whatever their slots); keys a node refused
        (a stale slot map, a migrating slot) are read again with one ``MGET`` per slot."""
        if not self._node_scripts:
            return list(await client.mget_nonatomic(keys))
        raws: list[bytes | None] = [None] * len(keys)
        calls: list[tuple[Any, ...]] = []
        parts: list[list[int]] = []
        for positions in self._nodes(client, keys).values():
            for chunk in chunks(positions, READ_KEYS):
                ks = [keys[i] for i in chunk]
                calls.append(("EVALSHA", READ_NODE_SHA, 1, ks[0], *ks))
                parts.append(chunk)
        retry: list[int] = []
        for chunk, result in zip(parts, await self._pipeline(client, calls), strict=True):
            if isinstance(result, ResponseError):
                retry.extend(chunk)
            elif isinstance(result, BaseException):
                raise result
            else:
                for i, raw in zip(chunk, result, strict=True):
                    raws[i] = raw
        if retry:
            for i, raw in zip(retry, await client.mget_nonatomic([keys[i] for i in retry]), strict=True):
                raws[i] = raw
        return raws

    async def write(self, entity: str, writes: Sequence[OnlineWrite]) -> int:
        client = self._client
        if client is None:
            raise self._not_open()
        groups = newest_records(self._values, writes)
        applied = 0
        try:
            async with self._gate:
                for ttl, (keys, records) in groups.items():
                    if not self.cluster:
                        applied += await self._write_calls(client, slot_calls(ttl, [(keys, records)]))
                    elif self._node_scripts:
                        applied += await self._write_by_node(client, ttl, keys, records)
                    else:
                        calls = slot_calls(ttl, by_slot(keys, records))
                        applied += await self._write_calls(client, calls)
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        return applied

    async def _write_calls(self, client: Any, calls: list[tuple[Any, ...]]) -> int:
        """Run write script calls, pipelined in rounds of about ``PIPELINE_KEYS`` keys."""
        if len(calls) == 1 and not self.cluster:  # one round trip, no pipeline to build
            try:
                return int(await client.execute_command(*calls[0]))
            except NoScriptError:
                await self._load_scripts(client)
                return int(await client.execute_command(*calls[0]))
        applied = 0
        for batch in rounds(calls):
            applied += sum(int(r) for r in raise_first(await self._pipeline(client, batch)))
        return applied

    async def _write_by_node(self, client: Any, ttl: int, keys: list[str], records: list[bytes]) -> int:
        """One write script call per master and ``SCRIPT_KEYS`` keys, whatever their slots.
        A call a node refused (a stale slot map, a migrating slot; it wrote nothing) is
        written again slot by slot."""
        calls: list[tuple[Any, ...]] = []
        parts: list[list[int]] = []
        for positions in self._nodes(client, keys).values():
            for chunk in chunks(positions, SCRIPT_KEYS):
                ks = [keys[i] for i in chunk]
                calls.append(("EVALSHA", WRITE_NODE_SHA, 1, ks[0], ttl, *ks, *[records[i] for i in chunk]))
                parts.append(chunk)
        applied = 0
        retry: list[int] = []
        for batch_parts, batch in zip(rounds_of(parts, calls), rounds(calls), strict=True):
            for chunk, result in zip(batch_parts, await self._pipeline(client, batch), strict=True):
                if isinstance(result, ResponseError):
                    retry.extend(chunk)
                elif isinstance(result, BaseException):
                    raise result
                else:
                    applied += int(result)
        if retry:
            slot_groups = by_slot([keys[i] for i in retry], [records[i] for i in retry])
            applied += await self._write_calls(client, slot_calls(ttl, slot_groups))
        return applied

    async def _unlink_matching(self, client: Any, pattern: str) -> int:
        deleted = 0
        batch: list[bytes] = []
        if self.cluster:
            scan = client.scan_iter(match=pattern, count=SCAN_COUNT, target_nodes=RedisCluster.PRIMARIES)
        else:
            scan = client.scan_iter(match=pattern, count=SCAN_COUNT)
        async for key in scan:
            batch.append(key)
            if len(batch) >= UNLINK_KEYS:
                deleted += await self._unlink(client, batch)
                batch = []
        if batch:
            deleted += await self._unlink(client, batch)
        return deleted

    async def _unlink(self, client: Any, keys: list[bytes]) -> int:
        if not self.cluster:
            return int(await client.unlink(*keys))
        pipe = client.pipeline()  # one command per key: the keys span many slots
        for key in keys:
            pipe.execute_command("UNLINK", key)
        return sum(int(n) for n in await pipe.execute())

    async def delete_feature(self, entity: str, feature_id: str) -> None:
        client = self._client
        if client is None:
            raise self._not_open()
        prefix = glob_escape(self.prefix)
        fid = glob_escape(feature_id)
        try:
            async with self._gate:
                await self._unlink_matching(client, f"{prefix}feature_value:{fid}:*")
                await self._unlink_matching(client, f"{prefix}transformer:{fid}:*")
                await client.unlink(f"{self.prefix}feature:{feature_id}")
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    async def delete_prefix(self) -> int:
        """Delete every key under this store's prefix (all its values, metadata and
        transformers); returns how many. Refused without a prefix: that would be the whole
        database."""
        client = self._client
        if client is None:
            raise self._not_open()
        if not self.prefix:
            raise ConfigurationError(f"the {STORE} store URL has no prefix: refusing to delete every key")
        try:
            async with self._gate:
                return await self._unlink_matching(client, f"{glob_escape(self.prefix)}*")
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    # -- cached metadata and transformers -----------------------------------------------------

    async def _get(self, key: str) -> dict[str, Any] | None:
        client = self._client
        if client is None:
            raise self._not_open()
        try:
            async with self._gate:
                raw = await client.execute_command("GET", key)
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        return None if raw is None else orjson.loads(raw)

    async def _put(self, key: str, doc: dict[str, Any]) -> None:
        client = self._client
        if client is None:
            raise self._not_open()
        data = dumps(doc)
        try:
            async with self._gate:
                await client.execute_command("SET", key, data)
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    async def put_feature_meta(self, feature_id: str, doc: dict[str, Any]) -> None:
        await self._put(f"{self.prefix}feature:{feature_id}", doc)

    async def get_feature_meta(self, feature_id: str) -> dict[str, Any] | None:
        return await self._get(f"{self.prefix}feature:{feature_id}")

    async def put_transformer(self, feature_id: str, version: str, state: dict[str, Any]) -> None:
        await self._put(f"{self.prefix}transformer:{feature_id}:{version}", state)

    async def get_transformer(self, feature_id: str, version: str) -> dict[str, Any] | None:
        return await self._get(f"{self.prefix}transformer:{feature_id}:{version}")

    async def ping(self) -> dict[str, Any]:
        client = self._client
        if client is None:
            raise self._not_open()
        try:
            if self.cluster:
                info = await client.info("server", target_nodes=RedisCluster.RANDOM)
                nodes = len(client.get_nodes())
            else:
                info = await client.info("server")
                nodes = 1
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        if "redis_version" not in info and info:  # a reply per node
            info = next(iter(info.values()))
        return {
            "backend": "redis",
            "version": str(info.get("redis_version", "")),
            "mode": "cluster" if self.cluster else "standalone",
            "url": mask_url(self.url),
            "nodes": nodes,
        }
