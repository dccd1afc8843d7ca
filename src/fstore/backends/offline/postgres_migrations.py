"""The PostgreSQL offline store's schema, created and upgraded by the store itself.

Migrations are numbered and never edited once released: a change is a new migration. They
are applied in one transaction holding a transaction-scoped advisory lock named after the
schema, so processes opening the store at the same moment wait for each other and the
second finds nothing left to do; ``fstore_migrations`` records what was applied.

Layout (``{s}`` is the store's schema):

* ``fstore_features``: one row per feature with history: its small integer key ``fid``,
  the kinds of values appended so far (bit sets, see ``postgres_sql.VALUE_KINDS``), from
  which reads type their Arrow columns, the newest event time stored (``max_event``) and
  the number of corrections stored (``corrections``: reads drop superseded rows if any);
  writers lock the row (``FOR UPDATE``) for their transaction;
* ``fstore_history``: the history, list-partitioned by ``fid``, one partition per feature
  (``fstore_history_<fid>``, created on its first append, dropped by ``delete_feature``).
  Typed columns hold the raw value (``v_int``/``v_float``/``v_text``) and the transformed
  one (``t_int``/``t_float``/``t_list``): a row fills the ones of its kinds. Each partition
  has the index ``(entity_id, event_timestamp, ingested_at)``: history reads, latest
  (backward scan) and point-in-time lookups (one backward probe per entity row) use it.
  ``entity_id`` sorts by code point (``COLLATE "C"``) as the embedded store does;
* ``fstore_audit_log``: the audit / access log of the specification;
* ``fstore_online_repairs``: the online repair ledger (``postgres_repairs``): per feature and
  write call (``call = ''``: the feature's standing entry), the oldest event time (µs) whose
  online copy may be missing;
* ``fstore_outbox``: the event outbox (``postgres_outbox``): per write call and feature, the
  stored rows (ingestion time, event time range) whose value-change events are not yet
  published to Kafka, with the lease of the publisher that holds the entry;
* ``fstore_window_log`` and ``fstore_window_positions``: the aggregation engine's window
  state (``streaming.window_state_postgres``): per aggregation and source partition, a log of
  state deltas and snapshots (Arrow IPC), and per source (topic, partition) the last offset
  the state holds;
* ``fstore_ingestion``: the ingestion activity (``postgres_ingestion``): values stored per
  feature and minute (epoch seconds of its start), for the dashboard.
"""

from __future__ import annotations

from typing import Any

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "feature history",
        [
            """
            CREATE TABLE {s}.fstore_features (
                fid serial PRIMARY KEY,
                feature_id text NOT NULL UNIQUE,
                value_kinds integer NOT NULL DEFAULT 0,
                transformed_kinds integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {s}.fstore_history (
                fid integer NOT NULL,
                entity_id text COLLATE "C" NOT NULL,
                event_timestamp timestamptz NOT NULL,
                ingested_at timestamptz NOT NULL,
                version text NOT NULL,
                v_int bigint,
                v_float double precision,
                v_text text,
                t_int bigint,
                t_float double precision,
                t_list double precision[]
            ) PARTITION BY LIST (fid)
            """,
            """
            CREATE INDEX fstore_history_entity_time
                ON {s}.fstore_history (entity_id, event_timestamp, ingested_at)
            """,
        ],
    ),
    (
        2,
        "audit log",
        [
            """
            CREATE TABLE {s}.fstore_audit_log (
                id bigserial PRIMARY KEY,
                at timestamptz NOT NULL DEFAULT now(),
                actor text,
                action text NOT NULL,
                resource text,
                outcome text,
                details jsonb
            )
            """,
            "CREATE INDEX fstore_audit_log_at ON {s}.fstore_audit_log (at)",
            "CREATE INDEX fstore_audit_log_actor_at ON {s}.fstore_audit_log (actor, at)",
        ],
    ),
    (
        3,
        "value identities",
        [
            # newest event time stored (writes newer than it skip the identity lookup) and
            # how many corrections were stored (reads keep only current rows when any)
            """
            ALTER TABLE {s}.fstore_features
                ADD COLUMN max_event timestamptz,
                ADD COLUMN corrections bigint NOT NULL DEFAULT 0
            """,
            # history from before identities may repeat them: treat it as corrected
            """
            UPDATE {s}.fstore_features AS f SET corrections = 1,
                max_event = (SELECT max(h.event_timestamp) FROM {s}.fstore_history AS h WHERE h.fid = f.fid)
            """,
        ],
    ),
    (
        4,
        "online repair ledger",
        [
            """
            CREATE TABLE {s}.fstore_online_repairs (
                feature_id text NOT NULL,
                call text NOT NULL,
                oldest_us bigint NOT NULL,
                stamp bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (feature_id, call)
            )
            """,
        ],
    ),
    (
        5,
        "event outbox",
        [
            """
            CREATE TABLE {s}.fstore_outbox (
                call text NOT NULL,
                feature_id text NOT NULL,
                feature text NOT NULL,
                entity text NOT NULL,
                ingested_us bigint NOT NULL,
                start_us bigint NOT NULL,
                end_us bigint NOT NULL,
                source text NOT NULL,
                claimed_until_us bigint NOT NULL,
                stamp bigint NOT NULL,
                created_us bigint NOT NULL,
                PRIMARY KEY (call, feature_id)
            )
            """,
            "CREATE INDEX fstore_outbox_created ON {s}.fstore_outbox (created_us)",
        ],
    ),
    (
        6,
        "aggregation window state",
        [
            """
            CREATE TABLE {s}.fstore_window_log (
                key text NOT NULL,
                partition integer NOT NULL,
                seq bigint GENERATED ALWAYS AS IDENTITY,
                snapshot boolean NOT NULL,
                windows bytea NOT NULL,
                marks bytea NOT NULL,
                dropped bigint NOT NULL,
                PRIMARY KEY (key, partition, seq)
            )
            """,
            """
            CREATE TABLE {s}.fstore_window_positions (
                topic text NOT NULL,
                partition integer NOT NULL,
                position bigint NOT NULL,
                PRIMARY KEY (topic, partition)
            )
            """,
        ],
    ),
    (
        7,
        "ingestion activity",
        [
            """
            CREATE TABLE {s}.fstore_ingestion (
                feature_id text NOT NULL,
                minute bigint NOT NULL,
                stored bigint NOT NULL,
                PRIMARY KEY (feature_id, minute)
            ) WITH (fillfactor = 70)
            """,
            "CREATE INDEX fstore_ingestion_minute ON {s}.fstore_ingestion (minute)",
        ],
    ),
]
LATEST_VERSION = MIGRATIONS[-1][0]


async def migrate(conn: Any, schema: str) -> list[int]:
    """Bring ``schema`` (a quoted identifier) up to date on ``conn`` (an autocommit psycopg
    async connection); returns the versions applied now (none when already up to date)."""
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ["fstore offline schema " + schema]
        )
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.fstore_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )"""
        )
        cur = await conn.execute(f"SELECT version FROM {schema}.fstore_migrations")
        done = {row[0] for row in await cur.fetchall()}
        # versions newer than this code knows are left alone: a newer fstore migrated this
        # schema, and migrations only ever add
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                await conn.execute(statement.replace("{s}", schema))
            await conn.execute(
                f"INSERT INTO {schema}.fstore_migrations (version, name) VALUES (%s, %s)", [version, name]
            )
            applied_now.append(version)
    return applied_now
