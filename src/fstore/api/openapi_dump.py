"""Print the API's OpenAPI schema as JSON, without a server or stores.

``python -m fstore.api.openapi_dump [FILE]`` writes it to FILE (or stdout). The dashboard's
TypeScript types (``web/src/api/schema.d.ts``) are generated from it, so they are checked
against exactly what ``/openapi.json`` serves.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from fstore.api.app import create_app
from fstore.config import Settings


def openapi_schema() -> dict[str, Any]:
    """The schema of an app built on throwaway settings (nothing is opened or written)."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), dev_mode=True, secret_key=secrets.token_urlsafe(48))
        schema: dict[str, Any] = create_app(settings=settings).openapi()
        return schema


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    text = json.dumps(openapi_schema(), indent=2, sort_keys=True) + "\n"
    if args:
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
