"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fstore.store import FeatureStore


def get_store(request: Request) -> FeatureStore:
    """The application's FeatureStore (set by ``create_app``)."""
    store: FeatureStore = request.app.state.store
    return store


Store = Annotated[FeatureStore, Depends(get_store)]
