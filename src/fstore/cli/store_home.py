"""Whether the local stores exist, and ``fstore init``, which creates them.

A command on a store that does not exist is an error naming where it looked (a mistyped
``--home`` or ``FSTORE_HOME`` must not quietly give a new, empty store); only ``fstore init``
and the commands that set a store up (``demo``, ``serve``, ``entities create``, ``users
create-admin``, ``users add``; and the long-running ``processor run``) create one, and say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit

if TYPE_CHECKING:
    from fstore.config import Settings
    from fstore.store import FeatureStore

# commands (by their path below ``fstore``) that may create the local stores
CREATORS = {
    ("init",),
    ("demo",),
    ("serve",),
    ("entities", "create"),
    ("users", "create-admin"),
    ("users", "add"),
}
_EMBEDDED = ("sqlite", "duckdb")


def missing_parts(config: Settings) -> list[Path]:
    """The embedded stores' files and directories of ``config`` that do not exist (none for
    stores on servers: PostgreSQL, Redis, MongoDB)."""
    from fstore.backends import url_path

    missing = []
    for url in (config.resolved_metadata_url(), config.resolved_online_url(), config.resolved_offline_url()):
        if url.split(":", 1)[0].split("+")[0] not in _EMBEDDED:
            continue
        path = url_path(url)
        if str(path) != ":memory:" and not path.exists():
            missing.append(path)
    return missing


def command_path() -> tuple[str, ...]:
    """The running command's path below the root (``("entities", "create")``)."""
    from fstore.cli.runner import click_part

    ctx = click_part("globals").get_current_context(silent=True)
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return tuple(reversed(names))


def check_store(config: Settings, home_source: str) -> list[Path]:
    """Raise ConfigurationError when the local stores do not exist and the running command
    may not create them; returns what is missing (what a creating command will create)."""
    from fstore.errors import ConfigurationError

    missing = missing_parts(config)
    if not missing or command_path() in CREATORS:
        return missing
    home = config.home.absolute()
    raise ConfigurationError(
        f"no FStore store in {home} (the home from {home_source}): {missing[0]} does not exist; "
        "check --home / FSTORE_HOME, or create a store there with `fstore init`",
        home=str(home),
    )


def init(as_json: JsonOpt = False) -> None:
    """Create the stores (the embedded ones under --home / FSTORE_HOME, or the schemas of
    the configured servers); an existing store is left as it is."""
    from fstore.backends import mask_url
    from fstore.cli.runner import run, settings

    config = settings()
    created = bool(missing_parts(config))

    async def go(store: FeatureStore) -> dict[str, Any]:  # opening the store created it
        return {
            "home": str(config.home.absolute()),
            "created": created,
            "metadata": mask_url(config.resolved_metadata_url()),
            "online": mask_url(config.resolved_online_url()),
            "offline": mask_url(config.resolved_offline_url()),
        }

    info = run(go)
    verb = "created a new store" if created else "the store already exists"
    emit(
        info,
        as_json,
        f"{verb} in {info['home']} (metadata {info['metadata']}, online {info['online']}, "
        f"offline {info['offline']})",
    )
