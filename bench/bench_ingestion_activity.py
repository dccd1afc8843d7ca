"""What recording the ingestion activity (issue 10) costs a write call: the p50 of single-value
writes (the call where a fixed cost shows most) on the embedded stores and with the PostgreSQL
offline store, one JSON line. Run it once per checkout to compare, alternating:

    PYTHONPATH=/path/to/main/src .venv/bin/python bench/bench_ingestion_activity.py   # before
    .venv/bin/python bench/bench_ingestion_activity.py                                # after

Batch ingest is measured by bench_core.py and bench_postgres.py (one record per call there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from uuid import uuid4

import fstore
from bench_events import drop_schema, singles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--singles", type=int, default=1000)
    args = parser.parse_args()
    out: dict[str, object] = {"fstore": str(Path(fstore.__file__).parent)}
    for backend in ("embedded", "postgresql"):
        schema = f"bench_{uuid4().hex[:8]}"
        url = f"{args.server}?schema={schema}" if backend == "postgresql" else None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                p50 = asyncio.run(singles(Path(tmp), url, None, args.singles))
                out[f"{backend}_single_p50_ms"] = round(p50, 4)
            finally:
                if url:
                    drop_schema(args.server, schema)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
