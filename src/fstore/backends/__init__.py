"""Backends are chosen by the scheme of their URL; this table is the only place that knows
which module implements which scheme (modules are imported only when used)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fstore.errors import ConfigurationError

METADATA_BACKENDS = {
    "sqlite": "fstore.backends.metadata.sqlite:SQLiteMetadataStore",
    "mongodb": "fstore.backends.metadata.mongodb:MongoMetadataStore",
}
ONLINE_BACKENDS = {
    "sqlite": "fstore.backends.online.sqlite:SQLiteOnlineStore",
    "redis": "fstore.backends.online.redis:RedisOnlineStore",
    "rediss": "fstore.backends.online.redis:RedisOnlineStore",
}
OFFLINE_BACKENDS = {
    "duckdb": "fstore.backends.offline.duckdb:DuckDBOfflineStore",
    "postgresql": "fstore.backends.offline.postgres:PostgresOfflineStore",
    "postgres": "fstore.backends.offline.postgres:PostgresOfflineStore",
}


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for logs, errors and health reports)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def url_path(url: str) -> Path:
    """The file path of a ``scheme:///relative`` or ``scheme:////absolute`` URL."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path:
        raise ConfigurationError(f"URL {url!r} has no path (expected scheme:///path)")
    return Path(path)


def _create(table: dict[str, str], url: str, what: str) -> Any:
    scheme = urlsplit(url).scheme.split("+")[0]
    target = table.get(scheme)
    if target is None:
        known = ", ".join(sorted(table))
        raise ConfigurationError(f"unsupported {what} store URL {url!r} (known schemes: {known})")
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        from fstore.extras import missing_extra

        missing = missing_extra(exc, f"the {scheme} {what} store")
        if missing is None:
            raise ConfigurationError(f"the {scheme} {what} store needs an extra package: {exc}") from exc
        raise missing from None
    return getattr(module, class_name)(url)


def create_metadata_store(url: str) -> Any:
    return _create(METADATA_BACKENDS, url, "metadata")


def create_online_store(url: str) -> Any:
    return _create(ONLINE_BACKENDS, url, "online")


def create_offline_store(url: str) -> Any:
    return _create(OFFLINE_BACKENDS, url, "offline")
