"""Settings, in one place: ``FSTORE_*`` environment variables, an optional ``.env`` file,
or keyword arguments. With none set, everything lives in files under ``./.fstore/``."""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field
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

    def resolved_metadata_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.home / 'metadata.db'}"

    def resolved_online_url(self) -> str:
        return self.online_url or f"sqlite:///{self.home / 'online.db'}"

    def resolved_offline_url(self) -> str:
        return self.offline_url or f"duckdb:///{self.home / 'offline'}"
