"""The REST API: ``create_app()`` builds a FastAPI application over a ``FeatureStore``."""

from fstore.api.app import create_app

__all__ = ["create_app"]
