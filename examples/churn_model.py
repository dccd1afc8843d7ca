"""End to end with the demo data: features → training set → scikit-learn model → served
predictions.

1. load the demo (customers, 60 days of transactions, fitted transformers) into a store;
2. build a point-in-time-correct training set for the demo's labelled rows (``churned``);
3. train a scikit-learn classifier on it and score it on the newest rows (a time split);
4. start ``fstore serve`` on the same store and predict from the online feature vectors the
   REST API serves — the same transformed values the model was trained on.

Run it with ``python examples/churn_model.py`` (``pip install 'fstore[api]' scikit-learn``);
``--customers`` and ``--home`` change the data size and where the store lives.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from fstore import Client, FeatureStore, Settings
from fstore.demo import DemoConfig, generate, run_demo

# the demo's features the model uses: numerical ones scaled, categorical ones label-encoded
FEATURES = [
    "transaction_amount",
    "transaction_count_7d",
    "payment_method",
    "merchant_category",
    "account_age_days",
    "credit_score",
    "avg_order_value_30d",
    "customer_segment",
    "txn_amount_mean_7d",
]
LABEL = "churned"


async def build_training_set(home: Path, config: DemoConfig) -> pd.DataFrame:
    """Load the demo into the store at ``home`` and join the features to its labelled rows."""
    async with FeatureStore(Settings(home=home, actor="example")) as fs:
        await run_demo(fs, config, output_dir=home / "demo-output", reset_first=True)
        rows = generate(config).entity_rows  # customer_id, event_timestamp, churned
        return await fs.get_historical_features(rows, FEATURES)


def design_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input: one column per feature, a one-hot feature (``payment_method``: a list
    per row) spread over one column per category; a missing value is NaN. Training rows and
    served vectors go through this same function."""
    columns: dict[str, pd.Series] = {}
    for name in FEATURES:
        column = frame[name]
        width = max((len(v) for v in column if isinstance(v, list | np.ndarray)), default=0)
        if width == 0:
            columns[name] = pd.to_numeric(column, errors="coerce").astype(float)
            continue
        for i in range(width):
            columns[f"{name}_{i}"] = column.map(
                lambda v, i=i: float(v[i]) if isinstance(v, list | np.ndarray) else np.nan
            )
    return pd.DataFrame(columns, index=frame.index)


def train(training: pd.DataFrame) -> tuple[HistGradientBoostingClassifier, float]:
    """Fit on the older 80 % of the rows, score (ROC AUC) on the newest 20 %."""
    ordered = training.sort_values("event_timestamp")
    cut = int(len(ordered) * 0.8)
    fit_rows, test_rows = ordered.iloc[:cut], ordered.iloc[cut:]
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)  # missing values allowed
    model.fit(design_matrix(fit_rows), fit_rows[LABEL])
    auc = roc_auc_score(test_rows[LABEL], model.predict_proba(design_matrix(test_rows))[:, 1])
    return model, float(auc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(home: Path, port: int) -> Iterator[str]:
    """``fstore serve`` on the store (dev mode, no login, localhost only) until the block ends."""
    env = {**os.environ, "FSTORE_HOME": str(home), "FSTORE_LOG_JSON": "false"}
    command = [sys.executable, "-m", "fstore.cli", "serve", "--dev", "--no-auth", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"fstore serve exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with Client(url) as client:
                    client.health()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def online_features(url: str, customers: list[str]) -> pd.DataFrame:
    """The model's input from the online feature vectors the API serves."""
    with Client(url) as client:
        vector = client.get_feature_vector(FEATURES, customers)
    return design_matrix(vector.to_pandas().set_index(vector.join_key))


async def offline_features(home: Path, customers: list[str]) -> pd.DataFrame:
    """The same customers' features from the offline history, as of now (a training-set row)."""
    rows = pd.DataFrame({"customer_id": customers, "event_timestamp": pd.Timestamp.now(tz="UTC")})
    async with FeatureStore(Settings(home=home, actor="example")) as fs:
        training = await fs.get_historical_features(rows, FEATURES)
    return design_matrix(training.set_index("customer_id"))


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--home", type=Path, help="the store's directory (default: a temporary one)")
    parser.add_argument("--port", type=int, default=0, help="the API's port (default: a free one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch) / "store"
        training = asyncio.run(build_training_set(home, DemoConfig(customers=args.customers)))
        churned = training[LABEL].mean()
        print(f"training set: {len(training):,} rows × {len(FEATURES)} features, {churned:.1%} churned")
        model, auc = train(training)
        print(f"model: ROC AUC {auc:.3f} on the newest 20 % of the rows")
        customers = [f"C{i:06d}" for i in range(5)]
        with serving(home, args.port or _free_port()) as url:
            served = online_features(url, customers).reindex(columns=model.feature_names_in_)
        probability = model.predict_proba(served)[:, 1]
        predictions = pd.DataFrame({"churn_probability": probability}, index=served.index)
        print("served predictions (online features via the REST API):")
        print(predictions.round(3).to_string())
        offline = asyncio.run(offline_features(home, customers)).reindex(columns=served.columns)
        if not np.allclose(served.to_numpy(), offline.to_numpy(), equal_nan=True):
            raise SystemExit(f"online and offline features differ:\n{served}\n{offline}")
        print("online features = the training path's features as of now: no training/serving skew")
        return predictions


if __name__ == "__main__":
    main()
