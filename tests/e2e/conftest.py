"""Running the ``fstore`` CLI: in-process (Typer's CliRunner, fast) or as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fstore.cli import app


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_line(self) -> str:
        """The one ``error: …`` line a failed command prints (and nothing else)."""
        assert self.code != 0, self.stdout
        assert "Traceback" not in self.stderr + self.stdout
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: "), self.stderr
        return lines[0]


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0) -> Run:
        """In-process run; ``code`` is the expected exit code (None: any)."""
        result = self.runner.invoke(app, ["--home", str(self.home), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        run = Run(result.exit_code, result.stdout, result.stderr)
        if code is not None:
            assert run.code == code, f"exit {run.code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        return run

    def json(self, *args: str) -> Any:
        return self(*args, "--json").json()

    def sub(self, *args: str, code: int | None = 0, timeout: float = 60) -> Run:
        """A real ``python -m fstore.cli`` process with ``FSTORE_HOME`` set."""
        env = {**os.environ, "FSTORE_HOME": str(self.home)}
        proc = subprocess.run(
            [sys.executable, "-m", "fstore.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        if code is not None:
            assert run.code == code, f"exit {run.code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        return run


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")
