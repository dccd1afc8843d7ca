"""Wire-level helpers of the Redis online store: the value records a write sends (newest per
key), fast command packing with hiredis, grouping keys by cluster slot, and cutting script
calls into pipelined rounds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import orjson
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection
from redis.crc import key_slot

from fstore.backends.online.base import OnlineWrite
from fstore.backends.online.encoding import ORJSON_OPTIONS, to_plain
from fstore.backends.online.redis_scripts import (
    WRITE_SHA,
)

try:  # redis[hiredis]: hiredis packs commands in C
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - redis-py packs them in Python
    _hiredis_pack = None

SCRIPT_KEYS = 1_000  # keys per write script call (a server runs one script at a time)
PIPELINE_KEYS = 20_000  # keys per pipeline round trip of a write


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=to_plain, option=ORJSON_OPTIONS)


_FAST_PACK = frozenset({"MGET", "EVALSHA"}) if _hiredis_pack is not None else frozenset()


class FastPacking:
    """Packs the commands that carry hundreds of keys (``MGET``, ``EVALSHA``) with hiredis
    (C) instead of redis-py's Python loop: 600 keys cost ~0.3 ms in Python, ~35 µs in C.
    Their arguments are str, bytes and int, which both encode the same way (str as UTF-8:
    used only with redis-py's default encoding)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if args[0] in _FAST_PACK:
            return [_hiredis_pack(args)]  # type: ignore[misc]
        return super().pack_command(*args)  # type: ignore[misc]


class FastConnection(FastPacking, Connection):
    pass


class FastSSLConnection(FastPacking, SSLConnection):
    pass


def fast_cluster(client: RedisCluster) -> RedisCluster:
    """Give the cluster client's connections hiredis packing too. ``RedisCluster`` takes no
    connection class, so it is swapped in its connection settings (nodes found later are
    made from them) and on the nodes made already; if redis-py changes these internals,
    the client keeps its own class (slower packing, same behaviour)."""
    kwargs = getattr(client, "connection_kwargs", None)
    if not isinstance(kwargs, dict) or kwargs.get("connection_class") not in (Connection, SSLConnection):
        return client
    if not utf8(kwargs.get("encoding")):
        return client
    fast = FastSSLConnection if kwargs["connection_class"] is SSLConnection else FastConnection
    kwargs["connection_class"] = fast
    nodes = getattr(getattr(client, "nodes_manager", None), "startup_nodes", {})
    for node in nodes.values():
        if getattr(node, "connection_class", None) in (Connection, SSLConnection):
            node.connection_class = fast
    return client


def utf8(encoding: str | None) -> bool:
    return encoding is None or encoding.lower().replace("-", "").replace("_", "") == "utf8"


def glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def ints(values: Any) -> list[int]:
    """Event times as Python ints (the record's first element must print as an integer)."""
    tolist = getattr(values, "tolist", None)
    ts = tolist() if tolist is not None else list(values)
    if all(type(t) is int for t in ts):
        return ts
    return [int(t) for t in ts]


def strs(ids: Sequence[Any]) -> list[str]:
    return [e if type(e) is str else str(e) for e in ids]


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def raise_first(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def newest_records(values: str, writes: Sequence[OnlineWrite]) -> dict[int, tuple[list[str], list[bytes]]]:
    """``{expiry ms (0: none): (keys, records)}`` with the newest record per key of ``writes``
    (keys under ``values``, the value keys' prefix); equal event times: the later position wins."""
    fids = [w.feature_id for w in writes]
    # Fast path (ingest, materialisation): each feature once, each entity id once per
    # feature, so every key is distinct and there is nothing to compare.
    simple = len(set(fids)) == len(fids)
    columns = []
    for w in writes:
        ids = strs(w.entity_ids)
        if len(set(ids)) != len(ids):
            simple = False
        columns.append((w, ids, ints(w.event_ts)))
    groups: dict[int, tuple[list[str], list[bytes]]] = {}
    if simple:
        for w, ids, ts in columns:
            prefix = f"{values}{w.feature_id}:"
            keys, records = groups.setdefault((w.ttl_seconds or 0) * 1000, ([], []))
            keys.extend([prefix + eid for eid in ids])
            version = w.version
            records.extend(
                [dumps((t, v, x, version)) for t, v, x in zip(ts, w.values, w.transformed, strict=True)]
            )
        return groups
    newest: dict[str, tuple[int, Any, Any, str | None, int]] = {}
    for w, ids, ts in columns:
        prefix = f"{values}{w.feature_id}:"
        version, ttl = w.version, (w.ttl_seconds or 0) * 1000
        for eid, t, v, x in zip(ids, ts, w.values, w.transformed, strict=True):
            key = prefix + eid
            current = newest.get(key)
            if current is None or t >= current[0]:
                newest[key] = (t, v, x, version, ttl)
    for key, (t, v, x, version, ttl) in newest.items():
        keys, records = groups.setdefault(ttl, ([], []))
        keys.append(key)
        records.append(dumps((t, v, x, version)))
    return groups


def by_slot(keys: list[str], records: list[bytes]) -> list[tuple[list[str], list[bytes]]]:
    """``(keys, records)`` grouped by hash slot (the keys of one cluster script call)."""
    groups: dict[int, tuple[list[str], list[bytes]]] = {}
    for key, record in zip(keys, records, strict=True):
        slot_keys, slot_records = groups.setdefault(key_slot(key.encode()), ([], []))
        slot_keys.append(key)
        slot_records.append(record)
    return list(groups.values())


def slot_calls(ttl: int, groups: list[tuple[list[str], list[bytes]]]) -> list[tuple[Any, ...]]:
    """``EVALSHA`` calls of the write script, at most ``SCRIPT_KEYS`` keys each."""
    calls: list[tuple[Any, ...]] = []
    for keys, records in groups:
        for start in range(0, len(keys), SCRIPT_KEYS):
            ks = keys[start : start + SCRIPT_KEYS]
            calls.append(("EVALSHA", WRITE_SHA, len(ks), *ks, ttl, *records[start : start + SCRIPT_KEYS]))
    return calls


def round_sizes(calls: list[tuple[Any, ...]]) -> list[int]:
    """How many calls go in each pipeline round trip (about ``PIPELINE_KEYS`` keys each)."""
    sizes: list[int] = []
    count = keys = 0
    for call in calls:
        count += 1
        keys += len(call) // 2
        if keys >= PIPELINE_KEYS:
            sizes.append(count)
            count = keys = 0
    if count:
        sizes.append(count)
    return sizes


def rounds(calls: list[Any]) -> Iterator[list[Any]]:
    start = 0
    for size in round_sizes(calls):
        yield calls[start : start + size]
        start += size


def rounds_of(items: list[Any], calls: list[tuple[Any, ...]]) -> Iterator[list[Any]]:
    """``items`` (one per call) cut like ``rounds(calls)``."""
    start = 0
    for size in round_sizes(calls):
        yield items[start : start + size]
        start += size
