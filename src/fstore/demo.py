"""Demo data: a seeded, deterministic customer/transactions world.

Two feature groups as in the specification — ``transaction_metrics`` and ``customer_metrics``
— with numerical features (scalers) and categorical features (encoders), a timestamped
history, and a labelled set of entity rows for a point-in-time training set; and a third,
``transaction_aggregates``, of real-time aggregations over a transactions topic
(``demo_aggregates``), backfilled from the same history.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fstore import demo_aggregates
from fstore.errors import AlreadyExistsError, DependencyError, NotFoundError
from fstore.models import Entity, Feature, FeatureGroup, TransformerSpec

if TYPE_CHECKING:
    from fstore.store import FeatureStore

ENTITY = Entity(name="customer", join_key="customer_id", description="A customer of the demo shop")

MERCHANT_CATEGORIES = ["grocery", "electronics", "fashion", "travel", "restaurants", "health", "home"]
MERCHANT_WEIGHTS = [0.30, 0.10, 0.15, 0.05, 0.20, 0.08, 0.12]
PAYMENT_METHODS = ["credit_card", "debit_card", "pix", "boleto", "wallet"]
PAYMENT_WEIGHTS = [0.40, 0.25, 0.20, 0.05, 0.10]
SEGMENTS = ["bronze", "silver", "gold", "platinum"]
SEGMENT_WEIGHTS = [0.50, 0.30, 0.15, 0.05]


def _feature(name: str, group: str, description: str, **kw: Any) -> Feature:
    return Feature(name=name, entity="customer", group=group, description=description, owner="demo", **kw)


# (feature, transformer) pairs, in registration order (dependencies first).
FEATURES: list[tuple[Feature, TransformerSpec]] = [
    (
        _feature(
            "transaction_amount",
            "transaction_metrics",
            "Amount of the latest transaction (BRL)",
            tags=["finance"],
        ),
        TransformerSpec(kind="standard_scaler"),
    ),
    (
        _feature(
            "transaction_count_7d",
            "transaction_metrics",
            "Transactions in the last 7 days",
            dtype="int",
            tags=["activity"],
        ),
        TransformerSpec(kind="minmax_scaler"),
    ),
    (
        _feature(
            "merchant_category",
            "transaction_metrics",
            "Category of the latest merchant",
            type="categorical",
            tags=["merchant"],
        ),
        TransformerSpec(kind="onehot_encoder", params={"handle_unknown": "ignore"}),
    ),
    (
        _feature(
            "payment_method",
            "transaction_metrics",
            "Payment method of the latest transaction",
            type="categorical",
            tags=["finance"],
        ),
        TransformerSpec(kind="label_encoder", params={"handle_unknown": "unknown"}),
    ),
    (
        _feature("account_age_days", "customer_metrics", "Days since the account was opened", dtype="int"),
        TransformerSpec(kind="minmax_scaler"),
    ),
    (
        _feature("credit_score", "customer_metrics", "Bureau credit score (300–850)", tags=["risk"]),
        TransformerSpec(kind="standard_scaler"),
    ),
    (
        _feature(
            "avg_order_value_30d",
            "customer_metrics",
            "Mean transaction amount over 30 days (BRL)",
            dependencies=["transaction_amount"],
            tags=["finance"],
        ),
        TransformerSpec(kind="standard_scaler"),
    ),
    (
        _feature("customer_segment", "customer_metrics", "Loyalty segment", type="categorical"),
        TransformerSpec(kind="label_encoder", params={"handle_unknown": "unknown"}),
    ),
]

GROUPS = [
    FeatureGroup(name="transaction_metrics", entity="customer", description="Financial transaction metrics"),
    FeatureGroup(name="customer_metrics", entity="customer", description="Customer behaviour metrics"),
]


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 1_000
    events_per_customer: int = 20
    days: int = 60
    seed: int = 42
    end: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    training_rows: int | None = None  # default: 2 rows per customer


@dataclass
class DemoData:
    transactions: pd.DataFrame
    customers: pd.DataFrame
    entity_rows: pd.DataFrame


@dataclass(frozen=True)
class CustomerTraits:
    """What drives a customer's series: typical amount, activity (transactions per period)."""

    ids: np.ndarray
    spend_level: np.ndarray
    activity: np.ndarray


def _traits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    spend_level = rng.lognormal(mean=4.0, sigma=0.6, size=n)
    activity = rng.gamma(shape=2.0, scale=3.0, size=n)
    segment = rng.choice(SEGMENTS, size=n, p=SEGMENT_WEIGHTS)
    score_base = np.clip(rng.normal(650, 80, size=n), 300, 850)
    opened_days_ago = rng.integers(30, 3_000, size=n)
    return spend_level, activity, segment, score_base, opened_days_ago


def customer_traits(config: DemoConfig) -> CustomerTraits:
    """The traits ``generate`` gives the customers of ``config`` (the live producer's too)."""
    spend_level, activity, *_ = _traits(np.random.default_rng(config.seed), config.customers)
    return CustomerTraits(customer_ids(config.customers), spend_level, activity)


def customer_ids(n: int) -> np.ndarray:
    return np.array([f"C{i:06d}" for i in range(n)])


def generate(config: DemoConfig) -> DemoData:
    """The demo's data, identical for identical configs."""
    rng = np.random.default_rng(config.seed)
    n, e = config.customers, config.events_per_customer
    ids = customer_ids(n)
    start = config.end - timedelta(days=config.days)
    span_us = config.days * 86_400 * 1_000_000
    base = pd.Timestamp(start)

    def times(count: int) -> pd.Series:
        offsets = np.sort(rng.integers(0, span_us, size=(n, count)), axis=1).reshape(-1)
        return base + pd.to_timedelta(offsets, unit="us")

    # Per-customer traits drive every series, so the features carry a learnable signal.
    spend_level, activity, segment, score_base, opened_days_ago = _traits(rng, n)

    who = np.repeat(ids, e)
    amount = np.round(np.repeat(spend_level, e) * rng.lognormal(0.0, 0.35, size=n * e), 2)
    transactions = pd.DataFrame(
        {
            "customer_id": who,
            "event_timestamp": times(e),
            "transaction_amount": amount,
            "transaction_count_7d": rng.poisson(np.repeat(activity, e)).astype("int64"),
            "merchant_category": rng.choice(MERCHANT_CATEGORIES, size=n * e, p=MERCHANT_WEIGHTS),
            "payment_method": rng.choice(PAYMENT_METHODS, size=n * e, p=PAYMENT_WEIGHTS),
        }
    )
    k = max(1, e // 4)  # customer metrics change less often
    ctimes = times(k)
    days_before_end = ((pd.Timestamp(config.end) - ctimes) // pd.Timedelta(days=1)).to_numpy()
    age_at = np.repeat(opened_days_ago, k) - days_before_end
    customers = pd.DataFrame(
        {
            "customer_id": np.repeat(ids, k),
            "event_timestamp": ctimes,
            "account_age_days": np.maximum(age_at, 0).astype("int64"),
            "credit_score": np.round(
                np.clip(np.repeat(score_base, k) + rng.normal(0, 15, n * k), 300, 850), 1
            ),
            "avg_order_value_30d": np.round(np.repeat(spend_level, k) * rng.lognormal(0.0, 0.1, n * k), 2),
            "customer_segment": np.repeat(segment, k),
        }
    )
    rows = config.training_rows or 2 * n
    pick = rng.integers(0, n, size=rows)
    at = base + pd.to_timedelta(rng.integers(span_us // 4, span_us, size=rows), unit="us")
    churn_p = 1 / (1 + np.exp((score_base[pick] - 600) / 50 + activity[pick] / 4 - 1))
    entity_rows = pd.DataFrame(
        {
            "customer_id": ids[pick],
            "event_timestamp": at,
            "churned": (rng.random(rows) < churn_p).astype("int64"),
        }
    )
    return DemoData(transactions, customers, entity_rows)


@dataclass
class DemoReport:
    home: str
    customers: int
    values_ingested: int
    versions: dict[str, str]
    timings_s: dict[str, float]
    vector: dict[str, list[Any]]
    training_set_path: str
    training_set_shape: tuple[int, int]
    training_set_preview: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> list[tuple[str, str]]:
        lines = [
            ("store", self.home),
            ("customers", f"{self.customers:,}"),
            ("values ingested", f"{self.values_ingested:,}"),
            ("feature versions", ", ".join(f"{k}={v}" for k, v in self.versions.items())),
            (
                "training set",
                f"{self.training_set_path} ({self.training_set_shape[0]:,} rows × "
                f"{self.training_set_shape[1]} columns)",
            ),
        ]
        lines += [(f"time: {k}", f"{v:.3f} s") for k, v in self.timings_s.items()]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "customers": self.customers,
            "values_ingested": self.values_ingested,
            "versions": self.versions,
            "timings_s": self.timings_s,
            "vector": self.vector,
            "training_set": {"path": self.training_set_path, "shape": list(self.training_set_shape)},
            "training_set_preview": self.training_set_preview,
        }


DEMO_OWNER = "demo"  # the owner of every demo feature: what tells them from a user's


def _demo_feature_names() -> list[str]:
    return [*(f.name for f, _ in FEATURES), *demo_aggregates.NAMES]


def _demo_group_names() -> list[str]:
    return [*(g.name for g in GROUPS), demo_aggregates.GROUP.name]


async def is_loaded(store: FeatureStore) -> bool:
    """Whether any of the demo's own features is registered (a user's feature of the same
    name does not count)."""
    names = set(_demo_feature_names())
    return any(f.name in names and f.owner == DEMO_OWNER for f in await store.list_features())


async def conflicts(store: FeatureStore) -> list[str]:
    """The store's objects that carry a demo name but are not the demo's: the demo keeps to
    its own names, so it reuses a ``customer`` entity keyed by ``customer_id`` and the demo's
    groups, but never takes over a user's feature."""
    found = []
    names = set(_demo_feature_names())
    for f in await store.list_features():
        if f.name in names and f.owner != DEMO_OWNER:
            found.append(f"feature {f.name!r} (owner {f.owner or 'none'!r})")
    groups = {g.name: g for g in await store.list_groups()}
    for name in _demo_group_names():
        group = groups.get(name)
        if group is not None and group.entity not in (None, ENTITY.name):
            found.append(f"group {name!r} (of entity {group.entity!r})")
    try:
        entity = await store.get_entity(ENTITY.name)
    except NotFoundError:
        return found
    if entity.join_key != ENTITY.join_key:
        theirs, ours = entity.join_key, ENTITY.join_key
        found.append(f"entity {ENTITY.name!r} (join key {theirs!r}, the demo's is {ours!r})")
    return found


async def reset(store: FeatureStore) -> None:
    """Remove the demo's features (and their values), then its groups and the entity (the
    one the demo created) when nothing else uses them; a user's objects are left alone."""
    await demo_aggregates.reset(store)
    own = {f.name for f in await store.list_features() if f.owner == DEMO_OWNER}
    for feature, _ in reversed(FEATURES):
        if feature.name in own:
            with suppress(NotFoundError):
                await store.delete_feature(feature.name, force=True)
    for group in GROUPS:
        with suppress(NotFoundError, DependencyError):  # a user's features are in it
            await store.delete_group(group.name)
    with suppress(NotFoundError):
        entity = await store.get_entity(ENTITY.name)
        if (entity.join_key, entity.description) == (ENTITY.join_key, ENTITY.description):
            with suppress(DependencyError):  # a user's features or groups use it
                await store.delete_entity(ENTITY.name)


async def register(store: FeatureStore) -> None:
    if await is_loaded(store):
        raise AlreadyExistsError(
            "the demo is already loaded in this store; run `fstore demo --reset` to load it again"
        )
    found = await conflicts(store)
    if found:
        raise AlreadyExistsError(
            f"this store has {', '.join(found)}, whose names the demo needs; rename or delete "
            "them, or load the demo into a store of its own: `fstore --home .fstore-demo demo`",
            conflicts=found,
        )
    with suppress(AlreadyExistsError):  # a user's customer entity with the demo's join key
        await store.create_entity(ENTITY)
    existing = {g.name for g in await store.list_groups()}
    for group in GROUPS:
        if group.name not in existing:
            await store.create_group(group)
    for feature, transformer in FEATURES:
        await store.create_feature(feature, transformer=transformer, reason="demo")
    await demo_aggregates.register(store)


async def run_demo(
    store: FeatureStore,
    config: DemoConfig | None = None,
    output_dir: Path | str | None = None,
    *,
    reset_first: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> DemoReport:
    """Register the demo features, ingest their history, fit the transformers, materialise,
    serve a vector and export a point-in-time training set. ``on_step`` is told each step's
    name as it starts (progress)."""
    config = config or DemoConfig()
    output = Path(output_dir) if output_dir is not None else Path(store.settings.home)
    timings: dict[str, float] = {}

    def begin(name: str) -> float:
        if on_step is not None:
            on_step(name)
        return time.perf_counter()

    def lap(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 4)

    if reset_first:
        begin("removing the previous demo")
        await reset(store)
    t = begin("registering the demo features")
    await register(store)
    lap("register", t)
    t = begin("generating the demo data")
    data = generate(config)
    lap("generate", t)
    t = begin("ingesting the history")
    ingested = await store.ingest(data.transactions)
    ingested.update(await store.ingest(data.customers))
    lap("ingest", t)
    t = begin("backfilling the aggregations")
    await demo_aggregates.backfill(store, data.transactions)
    lap("backfill aggregates", t)
    t = begin("fitting the transformers")
    versions = {}
    for feature, _ in FEATURES:
        fitted = await store.fit_transformer(feature.name)
        versions[feature.name] = fitted.version
    lap("fit transformers", t)
    t = begin("materializing")
    await store.materialize()
    lap("materialize", t)
    sample = [f"C{i:06d}" for i in range(min(3, config.customers))]
    names = [*(f.name for f, _ in FEATURES), *demo_aggregates.NAMES]
    t = begin("serving a feature vector")
    vector = await store.get_feature_vector(names, sample)
    lap("online vector (3 entities)", t)
    t = begin("building the training set")
    training = await store.get_historical_features(data.entity_rows, names)
    lap("training set", t)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "demo_training_set.parquet"
    training.to_parquet(path, index=False)
    preview = training.head(3).astype(object).where(training.head(3).notna(), None)
    return DemoReport(
        home=str(store.settings.home),
        customers=config.customers,
        values_ingested=sum(ingested.values()),
        versions=versions,
        timings_s=timings,
        vector=vector.to_dict(),
        training_set_path=str(path),
        training_set_shape=training.shape,
        training_set_preview=[
            {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items()}
            for row in preview.to_dict(orient="records")
        ],
    )


async def load_for_stream(
    store: FeatureStore, config: DemoConfig | None = None, *, reset_first: bool = False
) -> DemoReport | None:
    """What the streaming demo needs: the whole demo when it is not loaded (or ``reset_first``);
    else only the aggregation features, if an older demo lacks them. None: nothing loaded."""
    config = config or DemoConfig()
    if reset_first or not await is_loaded(store):
        return await run_demo(store, config, reset_first=reset_first)
    if await demo_aggregates.missing(store):
        await demo_aggregates.register(store)
        await demo_aggregates.backfill(store, generate(config).transactions)
    return None
