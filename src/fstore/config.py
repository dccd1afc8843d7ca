"""Settings, in one place: ``FSTORE_*`` environment variables, an optional ``.env`` file,
or keyword arguments. With none set, everything lives in files under ``./.fstore/``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FSTORE_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".fstore"), description="Directory of the embedded stores.")
    metadata_url: str | None = Field(default=None, description="sqlite:///… (default) or mongodb://…")
    online_url: str | None = Field(default=None, description="sqlite:///… (default) or redis://…")
    offline_url: str | None = Field(default=None, description="duckdb:///… (default) or postgresql://…")
    actor: str = Field(default_factory=_default_actor, description="Who changes are recorded as.")
    online_retry_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After the online store fails, serve from the offline store for this long "
        "before trying the online store again.",
    )
    metadata_cache_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How long cached feature metadata is trusted before the metadata store is "
        "asked whether it changed (0: ask on every call; cheap for the embedded store).",
    )

    # -- REST API ---------------------------------------------------------------------------------
    dev_mode: bool = Field(
        default=False,
        description="Development mode: the server may start without FSTORE_SECRET_KEY (it makes up "
        "a throwaway key) and auth may be disabled. Never in production.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs the API's JWTs (at least 32 characters). Required outside dev mode.",
    )
    auth_disabled: bool = Field(
        default=False,
        description="Serve the API without authentication (everyone is admin). Only with dev_mode.",
    )
    access_token_minutes: float = Field(default=15.0, gt=0, description="Lifetime of an access token.")
    refresh_token_days: float = Field(default=7.0, gt=0, description="Lifetime of a refresh token.")
    login_max_failures: int = Field(
        default=5, ge=1, description="Wrong passwords per user name and address before logins pause."
    )
    login_address_max_failures: int = Field(
        default=20, ge=1, description="Wrong passwords per address, across user names, before it pauses."
    )
    login_user_max_failures: int = Field(
        default=50,
        ge=1,
        description="Wrong passwords per user name, across addresses, before it pauses (except from "
        "addresses the user logged in from within the refresh-token lifetime).",
    )
    login_window_seconds: float = Field(
        default=300.0, gt=0, description="How long a failed login counts against the next ones."
    )
    rate_limit_url: str | None = Field(
        default=None,
        description="Where the login throttle keeps its counters: memory:// (one process) or "
        "redis://… (shared by every server process). Default: the online store's URL when it is "
        "redis://…, else memory.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDR networks of reverse proxies whose X-Forwarded-For is believed "
        "(none by default: the client address is the peer's); as JSON in the environment: "
        "FSTORE_TRUSTED_PROXIES='[\"10.0.0.0/8\"]'.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (none by default); "
        "as JSON in the environment: FSTORE_CORS_ORIGINS='[\"https://ui.example.com\"]'.",
    )
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="Largest request body the API accepts (413 beyond)."
    )
    log_json: bool = Field(default=True, description="API logs as one JSON object per line.")
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka brokers (host:port,…): when set, every acknowledged write publishes a "
        "value-change event and `fstore processor run` consumes the ingest topic.",
    )
    kafka_topic_prefix: str = Field(
        default="fstore.",
        pattern=r"^[A-Za-z0-9._-]{0,200}$",
        description="Prefix of FStore's topic names (`<prefix>feature-values`, `<prefix>ingest`, "
        "`<prefix>ingest-dlq`).",
    )
    outbox_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a write call's value-change events stay reserved for the writing "
        "process: a writer killed before publishing them leaves them to other processes after "
        "this long. Far longer than one offline write.",
    )
    kafka_config: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka settings for producers and consumers (security, SASL, …); "
        'as JSON in the environment: FSTORE_KAFKA_CONFIG=\'{"security.protocol": "SSL"}\'.',
    )
    events_publisher: Literal["process", "thread", "external"] = Field(
        default="process",
        description="What publishes this process's value-change events: `process`, a child process "
        "at low priority (the writes keep their CPU and the GIL); `thread`, a thread of this process "
        "(no extra process, but publishing slows the writes running beside it); `external`, another "
        "process using the same offline store (`fstore events publish`, an API server, a processor).",
    )

    # -- Spark (fstore[spark]) ------------------------------------------------------------------
    spark_master: str = Field(
        default="local[*]",
        description="Where Spark jobs run: local[*] (this machine), spark://host:7077, k8s://…, yarn.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings passed through to the session (spark.driver.memory, …); "
        'as JSON in the environment: FSTORE_SPARK_CONF=\'{"spark.driver.memory": "2g"}\'.',
    )
    spark_jdbc_jar: Path | None = Field(
        default=None,
        description="The PostgreSQL JDBC driver jar (default: Debian's /usr/share/java/postgresql.jar "
        "from libpostgresql-jdbc-java, when present).",
    )
    spark_checkpoint_location: str | None = Field(
        default=None,
        description="Where `fstore spark stream` keeps its offsets and aggregation state "
        "(a directory, or an hdfs://, s3a://… URL on a cluster; default: <home>/spark-checkpoints/stream).",
    )

    def resolved_metadata_url(self) -> str:
        """``metadata_url``, or the embedded SQLite file under ``home``."""
        return self.metadata_url or f"sqlite:///{self.home / 'metadata.db'}"

    def resolved_online_url(self) -> str:
        """``online_url``, or the embedded SQLite file under ``home``."""
        return self.online_url or f"sqlite:///{self.home / 'online.db'}"

    def resolved_rate_limit_url(self) -> str:
        """Where the API's rate limits are counted: ``rate_limit_url``, else the Redis online
        store, else memory."""
        if self.rate_limit_url:
            return self.rate_limit_url
        online = self.online_url or ""
        return online if online.startswith(("redis://", "rediss://")) else "memory://"

    def resolved_offline_url(self) -> str:
        """``offline_url``, or the embedded DuckDB directory under ``home``."""
        return self.offline_url or f"duckdb:///{self.home / 'offline'}"
