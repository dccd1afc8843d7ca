"""The demo's real-time aggregation features: the ``transaction_aggregates`` group, computed
from the ``<prefix>transactions`` topic of raw transactions (``streaming.demo_producer`` writes
it; the Feature Processor keeps the aggregates up to date) and backfilled from the demo's
historical transactions so training sets have them too.

The windows are tumbling: online serves the aggregate of the *current* window so far (this
hour's count, today's sum, this week's mean — UTC, aligned to the epoch). A hopping window
would not fit here: online serves the newest window, which for a hopping window is the one
that started last, holding only the events of its first step.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

import pandas as pd

from fstore.errors import DependencyError, NotFoundError
from fstore.models import Feature, FeatureGroup
from fstore.streaming.spec import AggregationFunction, AggregationSpec

if TYPE_CHECKING:
    from fstore.store import FeatureStore

GROUP = FeatureGroup(
    name="transaction_aggregates",
    entity="customer",
    description="Windowed aggregates of the transactions stream, kept up to date by the Feature Processor",
)
SOURCE = "transactions"  # the topic's name after the Kafka topic prefix
LATENESS_SECONDS = 60
HOUR, DAY = 3_600, 86_400

# (name, function, window size in seconds, description)
AGGREGATES: list[tuple[str, AggregationFunction, int, str]] = [
    ("txn_count_1h", AggregationFunction.COUNT, HOUR, "Transactions in the current hour (UTC)"),
    ("txn_amount_sum_24h", AggregationFunction.SUM, DAY, "Amount spent in the current day (UTC, BRL)"),
    (
        "txn_amount_mean_7d",
        AggregationFunction.MEAN,
        7 * DAY,
        "Mean transaction amount in the current 7-day window (BRL)",
    ),
]
NAMES = [name for name, *_ in AGGREGATES]


def source_topic(prefix: str) -> str:
    return f"{prefix}{SOURCE}"


def features(prefix: str) -> list[Feature]:
    """The aggregation features over ``<prefix>transactions``: events are JSON objects with
    ``customer_id``, ``amount`` and ``timestamp`` (ISO-8601 or epoch milliseconds)."""
    out = []
    for name, function, size, description in AGGREGATES:
        spec = AggregationSpec(
            source_topic=source_topic(prefix),
            entity_field="customer_id",
            timestamp_field="timestamp",
            value_field=None if function is AggregationFunction.COUNT else "amount",
            function=function,
            window="tumbling",
            size_seconds=size,
            allowed_lateness_seconds=LATENESS_SECONDS,
        )
        out.append(
            Feature(
                name=name,
                entity="customer",
                group=GROUP.name,
                description=description,
                owner="demo",
                dtype="int" if function is AggregationFunction.COUNT else "float",
                tags=["streaming"],
                aggregation=spec,
            )
        )
    return out


async def missing(store: FeatureStore) -> list[str]:
    names = {f.name for f in await store.list_features()}
    return [name for name in NAMES if name not in names]


async def register(store: FeatureStore) -> None:
    """The group and the features (those not registered yet)."""
    try:
        await store.get_group(GROUP.name)
    except NotFoundError:
        await store.create_group(GROUP)
    absent = set(await missing(store))
    for feature in features(store.settings.kafka_topic_prefix):
        if feature.name in absent:
            await store.create_feature(feature, reason="demo")


def history_events(transactions: pd.DataFrame) -> pd.DataFrame:
    """The demo's historical transactions as the raw events of the source topic, in arrival
    (event time) order."""
    ordered = transactions.sort_values("event_timestamp", kind="stable")
    return pd.DataFrame(
        {
            "customer_id": ordered["customer_id"].to_numpy(),
            "amount": ordered["transaction_amount"].to_numpy(),
            "timestamp": ordered["event_timestamp"].astype("datetime64[ms, UTC]").astype("int64").to_numpy(),
        }
    )


async def backfill(store: FeatureStore, transactions: pd.DataFrame) -> int:
    """Compute the aggregates over the historical transactions (the engine the stream uses);
    returns the windows stored."""
    from fstore.streaming.aggregations import backfill as run_backfill

    events = history_events(transactions)
    for name in NAMES:
        await run_backfill(store, name, events)
    return len(events)


async def reset(store: FeatureStore) -> None:
    """Remove the demo's features (their window state goes with them; a user's feature of
    the same name stays) and the group, unless a user's features are in it."""
    own = {f.name for f in await store.list_features() if f.owner == "demo"}
    for name in reversed(NAMES):
        if name in own:
            with suppress(NotFoundError):
                await store.delete_feature(name, force=True)
    with suppress(NotFoundError, DependencyError):
        await store.delete_group(GROUP.name)
