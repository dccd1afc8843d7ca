"""FStore: a feature store for machine learning.

``from fstore import FeatureStore`` is the SDK. Names are loaded lazily so that importing
the package (and ``fstore --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "FeatureStore": "fstore.store",
    "SyncFeatureStore": "fstore.sync",
    "Settings": "fstore.config",
    "FeatureVector": "fstore.serving",
    "Entity": "fstore.models",
    "Feature": "fstore.models",
    "FeatureGroup": "fstore.models",
    "FeatureVersion": "fstore.models",
    "FeatureValue": "fstore.models",
    "FeatureType": "fstore.models",
    "ValueType": "fstore.models",
    "TransformerSpec": "fstore.models",
    "TransformerKind": "fstore.models",
    "ChangeRecord": "fstore.models",
    "FeatureStatistics": "fstore.models",
    "StandardScaler": "fstore.transformers",
    "MinMaxScaler": "fstore.transformers",
    "LabelEncoder": "fstore.transformers",
    "OneHotEncoder": "fstore.transformers",
    "NumericTransformer": "fstore.transformers",
    "CategoricalTransformer": "fstore.transformers",
    "FStoreError": "fstore.errors",
    "Client": "fstore.client",
    "AsyncClient": "fstore.client",
}

__all__ = [
    "AsyncClient",
    "CategoricalTransformer",
    "ChangeRecord",
    "Client",
    "Entity",
    "FStoreError",
    "Feature",
    "FeatureGroup",
    "FeatureStatistics",
    "FeatureStore",
    "FeatureType",
    "FeatureValue",
    "FeatureVector",
    "FeatureVersion",
    "LabelEncoder",
    "MinMaxScaler",
    "NumericTransformer",
    "OneHotEncoder",
    "Settings",
    "StandardScaler",
    "SyncFeatureStore",
    "TransformerKind",
    "TransformerSpec",
    "ValueType",
]

if TYPE_CHECKING:
    from fstore.client import AsyncClient, Client
    from fstore.config import Settings
    from fstore.errors import FStoreError
    from fstore.models import (
        ChangeRecord,
        Entity,
        Feature,
        FeatureGroup,
        FeatureStatistics,
        FeatureType,
        FeatureValue,
        FeatureVersion,
        TransformerKind,
        TransformerSpec,
        ValueType,
    )
    from fstore.serving import FeatureVector
    from fstore.store import FeatureStore
    from fstore.sync import SyncFeatureStore
    from fstore.transformers import (
        CategoricalTransformer,
        LabelEncoder,
        MinMaxScaler,
        NumericTransformer,
        OneHotEncoder,
        StandardScaler,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
