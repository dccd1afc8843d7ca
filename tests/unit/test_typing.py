"""The public API type-checks as a user's checker sees it: mypy over the SDK's modules, the
sync twin's stub and tests/typing/sdk_usage.py (configuration: ``[tool.mypy]``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mypy_passes_on_the_public_api() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_is_typed() -> None:
    package = ROOT / "src" / "fstore"
    assert (package / "py.typed").is_file() and (package / "sync.pyi").is_file()
