"""SQL text of the PostgreSQL offline store (the schema is in ``postgres_migrations``).

``{s}`` stands for the store's schema (a quoted identifier) and ``{h}`` for a feature's
partition of the history. Value columns are chosen per feature from the kinds appended so
far; a read selects only those, typed, and the store unifies them into one Arrow column.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from fstore.backends.offline.base import QUANTILES

# kind bit -> (column, Arrow type, PostgreSQL type); a feature's kinds are an OR of bits
VALUE_KINDS: dict[int, tuple[str, pa.DataType, str]] = {
    1: ("v_int", pa.int64(), "int8"),
    2: ("v_float", pa.float64(), "float8"),
    4: ("v_text", pa.string(), "text"),
}
TRANSFORMED_KINDS: dict[int, tuple[str, pa.DataType, str]] = {
    1: ("t_int", pa.int64(), "int8"),
    2: ("t_float", pa.float64(), "float8"),
    4: ("t_list", pa.list_(pa.float64()), "float8[]"),
}


def kind_of(arrow_type: pa.DataType, kinds: dict[int, tuple[str, pa.DataType, str]]) -> int:
    """The kind bit of a normalised column type (0 for the null type)."""
    for bit, (_, t, _) in kinds.items():
        if t == arrow_type:
            return bit
    return 0


def columns_of(bits: int, kinds: dict[int, tuple[str, pa.DataType, str]]) -> list[tuple[str, pa.DataType]]:
    return [(column, t) for bit, (column, t, _) in kinds.items() if bits & bit]


def partition(schema: str, fid: int) -> str:
    return f"{schema}.fstore_history_{int(fid)}"


# -- features ---------------------------------------------------------------------------------

FEATURE = (
    "SELECT fid, value_kinds, transformed_kinds, corrections FROM {s}.fstore_features WHERE feature_id = %s"
)
FEATURES = (
    "SELECT feature_id, fid, value_kinds, transformed_kinds FROM {s}.fstore_features "
    "WHERE feature_id = ANY(%s)"
)
FEATURE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
FEATURE_FOR_UPDATE = FEATURE + " FOR UPDATE"
ADD_KINDS = (
    "UPDATE {s}.fstore_features SET value_kinds = value_kinds | %s, "
    "transformed_kinds = transformed_kinds | %s WHERE fid = %s "
    "RETURNING value_kinds, transformed_kinds"
)
INSERT_FEATURE = (
    "INSERT INTO {s}.fstore_features (feature_id, value_kinds, transformed_kinds) "
    "VALUES (%s, %s, %s) RETURNING fid"
)
# a partition is created apart, then attached: ATTACH locks the parent in SHARE UPDATE
# EXCLUSIVE mode, which readers and writers of other features do not wait for (CREATE TABLE
# … PARTITION OF would take an ACCESS EXCLUSIVE lock)
CREATE_PARTITION = "CREATE TABLE {h} (LIKE {s}.fstore_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
ATTACH_PARTITION = "ALTER TABLE {s}.fstore_history ATTACH PARTITION {h} FOR VALUES IN ({fid})"
# writers hold the feature's row exclusively for their transaction: writers of one feature
# take turns (each looks up the identities the previous one stored) and a delete waits; a
# write after a delete finds no row and registers the feature again
# (whether rows at or after the given time may be stored already)
FEATURE_FOR_WRITE = (
    "SELECT coalesce(max_event >= %s, false) FROM {s}.fstore_features WHERE fid = %s FOR UPDATE"
)
WRITTEN = (
    "UPDATE {s}.fstore_features SET max_event = greatest(max_event, %s), "
    "corrections = corrections + %s WHERE fid = %s"
)
DELETE_FEATURE = "DELETE FROM {s}.fstore_features WHERE feature_id = %s RETURNING fid"
DROP_PARTITION = "DROP TABLE IF EXISTS {h}"

HISTORY_COPY = "COPY {h} ({columns}) FROM STDIN (FORMAT binary)"
# a write that may repeat stored identities goes through a staging table: one INSERT … SELECT
# probes the index for each staged row's current value and inserts the new and changed rows
STAGE = "fstore_stage"
CREATE_STAGE = f"CREATE TEMPORARY TABLE {STAGE} (LIKE {{s}}.fstore_history) ON COMMIT DROP"
TRUNCATE_STAGE = f"TRUNCATE {STAGE}"


def insert_changed(columns: Sequence[str], stage: str = STAGE) -> str:
    """Insert the staged rows whose identity is new or whose value differs from the stored
    current one; returns (rows inserted, of which corrections). ``stage``: the staging table
    (a Spark backfill stages into a table of the store's schema)."""
    cols = ", ".join(columns)
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM w.{c}" for c in ("v_int", "v_float", "v_text"))
    return f"""
WITH cand AS MATERIALIZED (
    SELECT {", ".join(f"s.{c}" for c in columns)}, w.entity_id IS NOT NULL AS corr
    FROM {stage} AS s
    LEFT JOIN LATERAL (
        SELECT h.entity_id, h.v_int, h.v_float, h.v_text FROM {{h}} AS h
        WHERE h.entity_id = s.entity_id AND h.event_timestamp = s.event_timestamp
        ORDER BY h.ingested_at DESC LIMIT 1
    ) AS w ON true
    WHERE w.entity_id IS NULL OR {differs}
), ins AS (
    INSERT INTO {{h}} ({cols}) SELECT {cols} FROM cand
)
SELECT count(*), count(*) FILTER (WHERE corr) FROM cand
"""


RELTUPLES = "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)"  # -1: never analysed
ANALYZE = "ANALYZE {h}"

# -- reads ------------------------------------------------------------------------------------


def where(entity_ids: bool, start: bool, end: bool, alias: str = "", current: bool = False) -> str:
    """The range filter (parameters ``ids``, ``start``, ``end``), both ends inclusive; with
    ``current`` only rows no later ingestion of their identity supersedes."""
    a = f"{alias}." if alias else ""
    conds = []
    if current:
        outer = alias or "{h}"
        conds.append(
            "NOT EXISTS (SELECT 1 FROM {h} AS n WHERE n.entity_id = "
            f"{outer}.entity_id AND n.event_timestamp = {outer}.event_timestamp "
            f"AND n.ingested_at > {outer}.ingested_at)"
        )
    if entity_ids:
        conds.append(f"{a}entity_id = ANY(%(ids)s)")
    if start:
        conds.append(f"{a}event_timestamp >= %(start)s")
    if end:
        conds.append(f"{a}event_timestamp <= %(end)s")
    return f" WHERE {' AND '.join(conds)}" if conds else ""


def history(values: Sequence[str], transformed: Sequence[str], filters: str, limit: bool) -> str:
    cols = ", ".join(["entity_id", "event_timestamp", *values, *transformed, "version", "ingested_at"])
    tail = " LIMIT %(limit)s" if limit else ""
    return f"SELECT {cols} FROM {{h}}{filters} ORDER BY entity_id, event_timestamp, ingested_at{tail}"


def latest(values: Sequence[str], filters: str) -> str:
    # DISTINCT ON over a backward scan of the index: the newest event (then ingestion) of
    # each entity comes first; entities come out in descending order
    cols = ", ".join(["entity_id", "event_timestamp", *values])
    return (
        f"SELECT DISTINCT ON (entity_id) {cols} FROM {{h}}{filters} "
        "ORDER BY entity_id DESC, event_timestamp DESC, ingested_at DESC"
    )


def values(columns: Sequence[str], filters: str) -> str:
    return f"SELECT {', '.join(columns) or 'NULL'} FROM {{h}}{filters}"


# -- statistics -------------------------------------------------------------------------------


def numeric_value(bits: int) -> str:
    """The value as double precision (ints and floats appended to one feature mix)."""
    if not bits & 3:
        return "NULL::float8"
    parts = [c for bit, c in ((2, "v_float"), (1, "v_int::float8")) if bits & bit]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def category_value(bits: int) -> str:
    """The value as text, for counting categories."""
    if not bits:
        return "NULL::text"
    parts = [c for bit, c in ((4, "v_text"), (1, "v_int::text"), (2, "v_float::text")) if bits & bit]
    if bits & 1 and bits & 2 and not bits & 4:  # ints and floats mix as floats
        parts = ["coalesce(v_float, v_int::float8)::text"]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def statistics(value: str, filters: str) -> str:
    """count (nulls included), nulls, distinct, first and last event, and (for a numeric
    ``value``) the numbers describing the non-null values."""
    qs = ", ".join(str(q) for q in QUANTILES.values())
    return f"""
SELECT count(*), count(*) - count(v), count(DISTINCT v),
       min(event_timestamp), max(event_timestamp),
       avg(v), stddev_pop(v), min(v), max(v),
       percentile_cont(ARRAY[{qs}]::float8[]) WITHIN GROUP (ORDER BY v)
FROM (SELECT event_timestamp, {value} AS v FROM {{h}}{filters}) AS h
"""


def counts(value: str, filters: str) -> str:
    return f"""
SELECT count(*), count(*) - count(v), count(DISTINCT v), min(event_timestamp), max(event_timestamp)
FROM (SELECT event_timestamp, {value} AS v FROM {{h}}{filters}) AS h
"""


def top_categories(value: str, filters: str) -> str:
    # code point order on equal counts, as the embedded store sorts
    return f"""
SELECT v, count(*) FROM (SELECT {value} AS v FROM {{h}}{filters}) AS h
WHERE v IS NOT NULL GROUP BY v ORDER BY 2 DESC, v COLLATE "C" LIMIT 10
"""


# -- point-in-time join -----------------------------------------------------------------------

PIT_ROWS = "fstore_pit_rows"


def pit_rows_table(keys: int) -> str:
    cols = ", ".join(f'k{i} text COLLATE "C"' for i in range(keys))
    return (
        f"CREATE TEMPORARY TABLE {PIT_ROWS} (rn integer NOT NULL, ts timestamptz NOT NULL, {cols}) "
        "ON COMMIT DROP"
    )


def pit_rows_copy(keys: int) -> str:
    cols = ", ".join(f"k{i}" for i in range(keys))
    return f"COPY {PIT_ROWS} (rn, ts, {cols}) FROM STDIN (FORMAT binary)"


def pit_join(joins: Sequence[tuple[str, int, Sequence[str], int | None]]) -> str:
    """One query for every feature: per feature (partition, key column index, value columns,
    TTL in seconds) a lateral probe of the index for the newest row at or before the entity
    row's time (ties: newest ingestion), and within the TTL when one is given."""
    select = ["r.rn"]
    lateral = []
    for i, (h, key, columns, ttl) in enumerate(joins):
        select += [f"x{i}.{c}" for c in columns]
        fresh = "" if ttl is None else f" AND h.event_timestamp >= r.ts - make_interval(secs => {int(ttl)})"
        lateral.append(
            f"LEFT JOIN LATERAL (SELECT {', '.join(f'h.{c}' for c in columns)} FROM {h} AS h "
            f"WHERE h.entity_id = r.k{key} AND h.event_timestamp <= r.ts{fresh} "
            f"ORDER BY h.event_timestamp DESC, h.ingested_at DESC LIMIT 1) AS x{i} ON true"
        )
    return f"SELECT {', '.join(select)} FROM {PIT_ROWS} AS r\n" + "\n".join(lateral)


# -- audit log --------------------------------------------------------------------------------

INSERT_AUDIT = (
    "INSERT INTO {s}.fstore_audit_log (at, actor, action, resource, outcome, details) "
    "VALUES (coalesce(%s::timestamptz, now()), %s, %s, %s, %s, %s)"
)


def list_audit(actor: bool, since: bool) -> str:
    conds = [c for c, on in (("actor = %(actor)s", actor), ("at >= %(since)s", since)) if on]
    filters = f" WHERE {' AND '.join(conds)}" if conds else ""
    return (
        "SELECT id, at, actor, action, resource, outcome, details FROM {s}.fstore_audit_log"
        f"{filters} ORDER BY at DESC, id DESC LIMIT %(limit)s"
    )
