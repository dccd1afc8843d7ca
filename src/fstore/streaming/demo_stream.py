"""The streaming demo: live demo transactions and the Feature Processor, side by side in the
running event loop, over an open store whose settings name the broker.

``prepare_broker`` picks the broker: ``FSTORE_KAFKA_BOOTSTRAP_SERVERS`` when set, else a local
memory-only one (``local_broker``). ``DemoStream`` creates the topics, starts the producer
(``demo_producer``) and the real ``Processor`` with its default handlers (ingest and the
aggregations), and reads the aggregates of a few customers back from the online store.
``fstore demo --stream`` shows them live; ``fstore serve --demo --stream`` runs the stream for
the API server's lifetime (``with_demo_stream``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from fstore import demo_aggregates
from fstore.demo import DemoConfig
from fstore.errors import ConfigurationError
from fstore.streaming.kafka import producer_config, topics
from fstore.streaming.local_broker import INSTALL_HINT, LocalBroker

if TYPE_CHECKING:
    from fastapi import FastAPI

    from fstore.config import Settings
    from fstore.serving import FeatureVector
    from fstore.store import FeatureStore
    from fstore.streaming.aggregations import AggregationHandler
    from fstore.streaming.demo_producer import TransactionProducer
    from fstore.streaming.processor import Processor
    from fstore.streaming.processor_http import ProcessorMetrics

log = logging.getLogger(__name__)

# a local Tansu broker lets a consumer join its group only after ~session.timeout.ms / 2
LOCAL_GROUP_CONFIG = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}


def prepare_broker(settings: Settings) -> tuple[Settings, LocalBroker | None]:
    """``settings`` when they name a broker; else settings naming a local broker started now
    (stop it when done). ConfigurationError (with the pip command) when the Kafka client, or
    both a broker and the local broker's package, are missing."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        raise ConfigurationError(f"the streaming demo needs the Kafka client: {INSTALL_HINT}") from None
    if settings.kafka_bootstrap_servers:
        return settings, None
    broker = LocalBroker().start()
    log.info("started a local Kafka broker (memory only) at %s", broker.bootstrap)
    return settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap}), broker


@dataclass(frozen=True)
class StreamOptions:
    rate: float = 200.0  # transactions per second
    watch: int = 5  # customers whose aggregates are read back
    partitions: int = 3  # of the transactions topic, when it is created
    demo: DemoConfig = field(default_factory=DemoConfig)
    fresh_broker: bool = False  # a broker just started on memory storage: offsets start at 0
    keep_events: bool = False  # remember every event sent (tests)
    group_id: str = "fstore-demo"


@dataclass(frozen=True)
class StreamStats:
    seconds: float
    produced: int  # events acknowledged by the broker
    processed: int  # records the processor handled and committed
    dead_lettered: int
    late_dropped: int  # late window updates the aggregations refused

    @property
    def events_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_second": round(self.events_per_second, 1)}


def create_topics(settings: Settings, partitions: dict[str, int], replication: int) -> None:
    """Create the topics that do not exist yet (a topic that cannot be created is logged: the
    cluster may create it on first use, or an operator may have to)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(producer_config(settings))
    new = [NewTopic(name, count, replication) for name, count in partitions.items()]
    for name, future in admin.create_topics(new, request_timeout=15).items():
        try:
            future.result(20)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                log.warning("topic %s not created: %s", name, exc.args[0].str())


class DemoStream:
    def __init__(self, store: FeatureStore, options: StreamOptions | None = None) -> None:
        self.store, self.options = store, options or StreamOptions()
        self.topic = ""
        self.watched: list[str] = []
        self.producer: TransactionProducer | None = None
        self.metrics: ProcessorMetrics | None = None
        self._aggregations: AggregationHandler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_producer, self._stop_processor = asyncio.Event(), asyncio.Event()
        self._started = self._stopped = 0.0
        self._dropped_before = 0

    async def start(self) -> None:
        from fstore.streaming.aggregations import AggregationHandler, open_window_state
        from fstore.streaming.demo_producer import TransactionGenerator, TransactionProducer
        from fstore.streaming.processor import Processor, ProcessorOptions, default_handlers
        from fstore.streaming.processor_http import ProcessorMetrics

        settings, opts = self.store.settings, self.options
        spec = (await self.store.get_feature(demo_aggregates.NAMES[0])).aggregation
        if spec is None:
            raise ConfigurationError(f"{demo_aggregates.NAMES[0]} is not an aggregation: reset the demo")
        self.topic = spec.source_topic  # as registered (the prefix may have changed since)
        named = topics(settings)
        wanted = {self.topic: opts.partitions, named.ingest: 1, named.dead_letter: 1}
        await asyncio.to_thread(create_topics, settings, wanted, 1 if opts.fresh_broker else -1)
        if opts.fresh_broker:  # positions recorded against an earlier broker's log mean nothing now
            state = open_window_state(self.store)
            try:
                await state.forget_positions(wanted)
            finally:
                await state.close()
        self.metrics = ProcessorMetrics()
        handlers = await default_handlers(self.store, settings, self.metrics)
        self._aggregations = next((h for h in handlers if isinstance(h, AggregationHandler)), None)
        self._dropped_before = self._dropped()
        if opts.fresh_broker:  # only the processor's consumer takes the group settings
            settings = settings.model_copy(
                update={"kafka_config": {**LOCAL_GROUP_CONFIG, **settings.kafka_config}}
            )
        processor = Processor(settings, handlers, ProcessorOptions(group_id=opts.group_id), self.metrics)
        generator = TransactionGenerator(opts.demo)
        self.watched = generator.busiest(opts.watch)
        self.producer = TransactionProducer(
            producer_config(settings), self.topic, generator, opts.rate, keep=opts.keep_events
        )
        self._started = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._process(processor), name="demo-processor"),
            asyncio.create_task(self.producer.run(self._stop_producer), name="demo-producer"),
        ]

    async def _process(self, processor: Processor) -> None:
        from fstore.streaming.outbox import write_source

        with write_source("processor"):
            await processor.run(self._stop_processor)

    def check(self) -> None:
        """Raise what made the producer or the processor stop, if one did."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def values(self, names: Sequence[str] = demo_aggregates.NAMES) -> FeatureVector:
        """The watched customers' aggregates as the online store serves them now."""
        return await self.store.get_feature_vector(names, self.watched, transformed=False, read_through=False)

    def _dropped(self) -> int:
        if self._aggregations is None:
            return 0
        dropped = self._aggregations.engine.dropped()
        return sum(dropped.get(name, 0) for name in demo_aggregates.NAMES)

    def stats(self) -> StreamStats:
        def sample(name: str) -> int:
            assert self.metrics is not None
            return int(self.metrics.registry.get_sample_value(name) or 0)

        end = self._stopped or time.monotonic()
        return StreamStats(
            seconds=round(end - self._started, 3) if self._started else 0.0,
            produced=self.producer.delivered if self.producer else 0,
            processed=sample("fstore_processor_events_processed_total") if self.metrics else 0,
            dead_lettered=sample("fstore_processor_events_dead_lettered_total") if self.metrics else 0,
            late_dropped=self._dropped() - self._dropped_before,
        )

    async def stop(self, drain_seconds: float = 30.0) -> StreamStats:
        """Stop producing, let the processor take in what was sent (up to ``drain_seconds``),
        then stop it (it commits and leaves its group)."""
        if not self._tasks:
            return self.stats()
        producer, processor = self._tasks[1], self._tasks[0]
        self._stop_producer.set()
        await asyncio.wait([producer])
        deadline = time.monotonic() + drain_seconds
        while not processor.done() and time.monotonic() < deadline:
            stats = self.stats()
            if stats.processed + stats.dead_lettered >= stats.produced:
                break
            await asyncio.sleep(0.05)
        self._stop_processor.set()
        await asyncio.wait([processor])
        self._stopped = time.monotonic()
        self.check()
        return self.stats()


def with_demo_stream(app: FastAPI, options: StreamOptions, broker: LocalBroker | None = None) -> None:
    """Run a ``DemoStream`` over the app's store while the app runs (its lifespan); a local
    ``broker`` is stopped after the store closed (its publisher may still send on close).
    Stopping it here, not after the server returns: on SIGTERM uvicorn re-raises the signal
    once the lifespan is done, which ends the process before any code after ``server.run``."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                stream = DemoStream(app.state.store, options)
                await stream.start()
                app.state.demo_stream = stream
                log.info(
                    "demo stream: %s transactions/s to %s, the Feature Processor keeps %s up to date",
                    f"{options.rate:g}",
                    stream.topic,
                    ", ".join(demo_aggregates.NAMES),
                )
                try:
                    yield state
                finally:
                    stats = await stream.stop(drain_seconds=5.0)
                    log.info("demo stream stopped: %s", stats.to_dict())
        finally:
            if broker is not None:
                await asyncio.to_thread(broker.stop)

    app.router.lifespan_context = lifespan
