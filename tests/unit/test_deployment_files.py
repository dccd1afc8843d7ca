"""The deployment files (Dockerfile, docker-compose.yml, .env.example, docs/deployment.md):
no container engine runs here, so they are checked statically — the compose file against the
Compose Specification's JSON schema (vendored: .ci/compose-spec.md), the commands the
services run against the CLI's own parser, the settings they use against ``Settings``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from fstore.cli import app
from fstore.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"api", "processor", "demo-data", "mongodb", "redis", "postgres", "kafka"}
FSTORE_SERVICES = ("api", "processor", "demo-data")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / ".ci" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_compose_file_has_the_specified_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    assert services["demo-data"]["profiles"] == ["demo"]  # `up` does not start it; `run` does
    for name, service in services.items():
        assert "healthcheck" in service or name == "demo-data", name
    assert list(services["api"]["ports"]) == ["${FSTORE_API_PORT:-8000}:8000"]
    for name in SERVICES - {"api"}:
        assert "ports" not in services[name], f"{name} should not be published"


def _parse(args: list[str]) -> dict[str, Any]:
    """The CLI's parse of ``fstore ARGS`` (nothing runs): the leaf command's parameters."""
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("fstore", list(args))
    while hasattr(command, "commands"):  # a group
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(protected if protected is not None else ctx.protected_args), *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)
    return dict(ctx.params)


def test_the_services_run_real_commands_with_real_settings(compose: dict[str, Any]) -> None:
    fields = {f"FSTORE_{name.upper()}" for name in Settings.model_fields}
    for name in FSTORE_SERVICES:
        service = compose["services"][name]
        _parse(service["command"])
        assert set(service["environment"]) <= fields, name
    assert _parse(compose["services"]["processor"]["command"])["metrics_port"] == 9108
    assert _parse(compose["services"]["demo-data"]["command"])["reset"] is True


def test_env_example_names_every_required_variable() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"FSTORE_SECRET_KEY", "POSTGRES_PASSWORD"}
    used = set(re.findall(r"\$\{(\w+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used <= example


def test_the_dockerfile_is_multi_stage_non_root_with_a_health_check(tmp_path: Path) -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert [name for _, name in stages] == ["web", "wheel", "runtime"]
    assert stages[0][0].startswith("node:")
    assert re.search(r"^USER fstore$", text, flags=re.MULTILINE)
    probe = re.search(r"HEALTHCHECK[^\n]*\\\n[^\n]*(http://127\.0\.0\.1:8000(/[\w/]+))", text)
    assert probe is not None
    from fastapi.testclient import TestClient

    from fstore.api import create_app

    app = create_app(settings=Settings(dev_mode=True, home=tmp_path / "home"))
    assert TestClient(app).get(probe.group(2)).status_code == 200  # the probe's route answers
    assert "npm run build" in text and "python -m build --wheel" in text


def test_the_deployment_guide_uses_real_settings() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    fields = {f"FSTORE_{name.upper()}" for name in Settings.model_fields}
    mentioned = set(re.findall(r"FSTORE_[A-Z_]+", text))
    assert mentioned and mentioned <= fields, mentioned - fields
    for command in ("fstore serve", "fstore processor run", "fstore init", "fstore doctor"):
        assert command in text
