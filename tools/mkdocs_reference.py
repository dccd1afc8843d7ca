"""MkDocs hooks (``mkdocs.yml`` → ``hooks``): the CLI and REST references, generated at build.

``reference/cli.md`` is Typer's own Markdown for the ``fstore`` app (``typer fstore.cli utils
docs``), ``reference/rest.md`` is made from the application's OpenAPI schema
(``fstore.api.openapi_dump.openapi_schema``: no server, no stores), so neither page can drift
from the code. The Python reference comes from docstrings through mkdocstrings.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

REST_PAGE = "reference/rest.md"
CLI_PAGE = "reference/cli.md"
METHODS = ("get", "post", "put", "patch", "delete")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    return str(schema.get("type", "any"))


def _body(content: dict[str, Any]) -> str:
    return ", ".join(f"`{kind}` {_type(part.get('schema', {}))}" for kind, part in content.items())


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", f"**{op.get('summary', '')}**", ""]
    if op.get("description"):
        lines += [op["description"], ""]
    lines += [f"Role: `{op.get('x-required-role', 'none')}`", ""]
    parameters = op.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in parameters:
            required = "yes" if p.get("required") else ""
            row = [f"`{p['name']}`", p["in"], _type(p.get("schema", {})), required]
            lines.append(f"| {' | '.join(row)} | {_cell(p.get('description', ''))} |")
        lines.append("")
    if "requestBody" in op:
        lines += [f"Body: {_body(op['requestBody'].get('content', {}))}", ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, reply in op.get("responses", {}).items():
        meaning, body = _cell(reply.get("description", "")), _body(reply.get("content", {}))
        lines.append(f"| {status} | {meaning} | {body} |")
    return [*lines, ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    properties = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", []))
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for field, spec in properties.items():
            mark = "yes" if field in required else ""
            lines.append(f"| `{field}` | {_type(spec)} | {mark} | {_cell(spec.get('description', ''))} |")
    elif "enum" in schema:
        lines.append(f"One of {_type(schema)}.")
    return [*lines, ""]


def rest_reference(schema: dict[str, Any]) -> str:
    """The REST reference page (Markdown) for an OpenAPI schema."""
    by_tag: dict[str, list[str]] = defaultdict(list)
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                by_tag[(op.get("tags") or ["other"])[0]] += _operation(method, path, op)
    info = schema["info"]
    lines = [
        "# REST API reference",
        "",
        f"{info['title']} {info['version']}: {info.get('description', '')} Generated from the "
        "OpenAPI schema the server serves at `/openapi.json` (Swagger UI at `/docs`); the guide "
        "is [The REST API](../api.md).",
        "",
    ]
    for tag in sorted(by_tag):
        lines += [f"## {tag}", "", *by_tag[tag]]
    lines += ["## Schemas", ""]
    for name, spec in sorted(schema["components"]["schemas"].items()):
        lines += _schema(name, spec)
    return "\n".join(lines)


def cli_reference() -> str:
    """The CLI reference page: Typer's Markdown for the app, its headings one level down."""
    command = [sys.executable, "-m", "typer", "fstore.cli", "utils", "docs", "--name", "fstore"]
    generated = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    if "## `fstore serve`" not in generated:  # a Typer that stops generating must fail the build
        raise RuntimeError(f"typer utils docs gave no command reference:\n{generated[:500]}")
    intro = (
        "# CLI reference\n\nGenerated from the Typer application (`fstore.cli.app`) when the site "
        "is built; `fstore COMMAND --help` prints the same. Every command takes `--json`.\n\n"
    )
    return intro + re.sub(r"^(#+ )", r"#\1", generated, flags=re.MULTILINE)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from fstore.api.openapi_dump import openapi_schema

    files.append(File.generated(config, REST_PAGE, content=rest_reference(openapi_schema())))
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    return files
