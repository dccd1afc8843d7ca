"""FStore's typed HTTP clients: ``Client`` (blocking) and ``AsyncClient``.

They mirror the local SDK (``SyncFeatureStore`` / ``FeatureStore``) over the REST API and
return the same models (for admins also ``fstore.auth.Directory``'s users and API keys, and
the audit log); the server's problem+json errors come back as the same
``FStoreError`` classes. They need httpx: ``pip install 'fstore[client]'``.
"""

from __future__ import annotations

try:
    import httpx  # noqa: F401
except ImportError:  # pragma: no cover - depends on the installation
    from fstore.errors import ConfigurationError

    raise ConfigurationError(
        "the FStore HTTP client needs httpx: pip install 'fstore[client]'", missing="httpx"
    ) from None

from fstore.client.aio import AsyncClient
from fstore.client.sync import Client

__all__ = ["AsyncClient", "Client"]
