"""The CLI's operational behaviour: --version, flags in help, JSON errors, no store created
by a read command, `fstore init`, progress display, missing extras, the secret-key error and
the demo next to a user's own objects."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer

from fstore.cli import app

if TYPE_CHECKING:
    from conftest import Cli

SMALL_DEMO = ("demo", "--customers", "20", "--events", "3", "--days", "5")


def fstore_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTORE_")}
    return {**env, "FSTORE_HOME": str(home), **extra}


def run_process(home: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` with ``FSTORE_HOME=home`` and no other FStore settings but ``env``."""
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=fstore_env(home, **env),
        timeout=300,
        check=False,
    )


def run_fstore(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_process(home, "-m", "fstore.cli", *args, **env)


def run_blocked(home: Path, blocked: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``fstore ARGS`` in a process where the module ``blocked`` cannot be imported (as when
    its extra is not installed)."""
    code = f"import sys; sys.modules[{blocked!r}] = None; from fstore.cli import main; main({list(args)!r})"
    return run_process(home, "-c", code, **env)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


# -- --version and help ---------------------------------------------------------------------------


def test_version_comes_from_the_package_metadata(cli: Cli) -> None:
    assert cli("--version").stdout == f"fstore {version('fstore')}\n"


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if hasattr(command, "commands"):  # a group
        for name, sub in command.commands.items():
            paths += _command_paths(sub, (*path, name))
    return paths


def test_every_help_shows_flags_as_flags(cli: Cli) -> None:
    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) > 40
    for path in paths:
        out = cli(*path, "--help").stdout
        assert "BOOLEAN" not in out, f"fstore {' '.join(path)} --help:\n{out}"
    root = cli("--help").stdout
    assert "--version" in root and "init" in root


# -- errors as JSON -------------------------------------------------------------------------------


def test_errors_are_json_with_json(cli: Cli) -> None:
    cli("init")
    missing = cli("features", "show", "ghost", "--json", code=3)
    assert missing.stdout == ""
    assert json.loads(missing.stderr) == {
        "error": {"type": "NotFoundError", "message": missing_message(cli), "exit_code": 3}
    }
    usage = cli("features", "show", "ghost", "--json", "--bogus", code=2)
    error = json.loads(usage.stderr)["error"]
    assert error["type"] == "UsageError" and "--bogus" in error["message"] and error["exit_code"] == 2
    # without --json: the one human line, and click's usage text for usage errors
    assert cli("features", "show", "ghost", code=3).error_line().startswith("error: ")
    assert "Usage:" in cli("features", "show", "ghost", "--bogus", code=2).stderr


def missing_message(cli: Cli) -> str:
    return cli("features", "show", "ghost", code=3).error_line().removeprefix("error: ")


def test_json_errors_in_a_real_process(cli: Cli) -> None:
    cli("init")
    run = cli.sub("values", "get", "ghost", "c1", "--json", code=3)
    assert run.stdout == ""
    assert json.loads(run.stderr)["error"]["type"] == "NotFoundError"


# -- no store created by accident ----------------------------------------------------------------


def test_a_read_command_on_a_missing_home_is_an_error(cli: Cli, tmp_path: Path) -> None:
    line = cli("features", "list", code=6).error_line()
    assert str(cli.home.absolute()) in line and "--home" in line and "fstore init" in line
    assert not cli.home.exists()
    env_run = run_fstore(tmp_path / "typo", "entities", "list")
    assert env_run.returncode == 6
    assert "FSTORE_HOME" in one_error_line(env_run.stderr)
    assert not (tmp_path / "typo").exists()
    as_json = json.loads(cli("stats", "x", "--json", code=6).stderr)
    assert as_json["error"]["type"] == "ConfigurationError"


def test_init_creates_the_store_once(cli: Cli) -> None:
    first = cli.json("init")
    assert first["created"] is True and first["home"] == str(cli.home.absolute())
    assert first["metadata"].startswith("sqlite:///") and first["offline"].startswith("duckdb:///")
    assert cli.json("features", "list") == []
    assert cli.json("init")["created"] is False
    assert "already exists" in cli("init").stdout


def test_a_setup_command_creates_the_store_and_says_so(cli: Cli) -> None:
    run = cli("entities", "create", "customer", "--join-key", "customer_id")
    assert f"creating a new store in {cli.home.absolute()}" in run.stderr
    assert cli.json("entities", "list")[0]["name"] == "customer"


# -- progress -----------------------------------------------------------------------------------


def run_in_terminal(home: Path, *args: str) -> tuple[int, str]:
    """``fstore ARGS`` with stderr on a pseudo-terminal (stdout piped): (exit code, what the
    terminal received)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fstore.cli", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=fstore_env(home, COLUMNS="120"),
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.communicate(timeout=120)
    os.close(leader)
    return proc.returncode, seen.decode(errors="replace")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("progress") / "home"
    done = run_fstore(home, *SMALL_DEMO, "--json")
    assert done.returncode == 0, done.stderr
    return home


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("materialize",), "materializing"),
        (("fit", "credit_score"), "fitting credit_score"),
        (("aggregations", "backfill", "txn_count_1h", "--from-feature", "transaction_amount"), "aggregating"),
    ],
)
def test_long_commands_show_progress_on_a_terminal_only(
    demo_home: Path, args: tuple[str, ...], shown: str
) -> None:
    code, terminal = run_in_terminal(demo_home, *args)
    assert code == 0, terminal
    assert shown in terminal
    code, terminal = run_in_terminal(demo_home, *args, "--json")
    assert code == 0, terminal
    assert shown not in terminal  # --json: nothing but results (and JSON errors)


def test_training_set_shows_progress(demo_home: Path, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("customer_id,event_timestamp\nC000001,2026-01-01T00:00:00Z\n")
    out = tmp_path / "train.parquet"
    args = ("training-set", str(rows), "-f", "credit_score", "-o", str(out))
    code, terminal = run_in_terminal(demo_home, *args)
    assert code == 0, terminal
    assert "joining 1 features to 1 rows" in terminal and out.exists()


# -- missing extras -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocked", "extra", "args", "env"),
    [
        ("fastapi", "api", ("serve", "--dev"), {}),
        ("httpx", "client", ("--url", "http://127.0.0.1:9", "features", "list"), {}),
        ("redis", "redis", ("init",), {"FSTORE_ONLINE_URL": "redis://127.0.0.1:6379/0"}),
        ("psycopg", "postgres", ("init",), {"FSTORE_OFFLINE_URL": "postgresql://127.0.0.1:5432/test"}),
        ("pymongo", "mongodb", ("init",), {"FSTORE_METADATA_URL": "mongodb://127.0.0.1:27017/x"}),
        ("confluent_kafka", "kafka", ("processor", "run"), {"FSTORE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}),
        ("pyspark", "spark", ("spark", "stats", "x"), {}),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    tmp_path: Path, blocked: str, extra: str, args: tuple[str, ...], env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    assert run_blocked(home, "_none_", "init").returncode == 0
    done = run_blocked(home, blocked, *args, **env)
    assert done.returncode != 0
    assert f"pip install 'fstore[{extra}]'" in one_error_line(done.stderr)


def test_the_secret_key_error_mentions_dev(tmp_path: Path) -> None:
    done = run_fstore(tmp_path / "home", "serve", "--port", "9")
    assert done.returncode == 6
    line = one_error_line(done.stderr)
    assert "FSTORE_SECRET_KEY" in line and "--dev" in line


# -- the demo next to a user's objects -----------------------------------------------------------


def test_demo_reset_keeps_to_its_own_names(cli: Cli) -> None:
    # the README's steps first: the user's own customer entity and feature
    cli("entities", "create", "customer", "--join-key", "customer_id")
    cli("features", "create", "amount", "--entity", "customer", "--transformer", "standard_scaler")
    report = cli.json(*SMALL_DEMO)
    assert report["customers"] == 20
    cli(*SMALL_DEMO, code=4).error_line()  # loaded: says to use --reset
    assert cli.json(*SMALL_DEMO, "--reset")["customers"] == 20
    names = {f["name"] for f in cli.json("features", "list")}
    assert "amount" in names and "credit_score" in names
    assert cli.json("features", "show", "amount")["owner"] != "demo"


def test_demo_names_taken_by_a_user_say_what_to_do(cli: Cli) -> None:
    cli("entities", "create", "customer", "--join-key", "customer_id")
    cli("features", "create", "credit_score", "--entity", "customer")
    for args in (SMALL_DEMO, (*SMALL_DEMO, "--reset")):
        line = cli(*args, code=4).error_line()
        assert "'credit_score'" in line and "fstore --home" in line
    assert cli.json("features", "show", "credit_score")["owner"] != "demo"  # left alone


def test_demo_refuses_a_customer_entity_with_another_key(cli: Cli) -> None:
    cli("entities", "create", "customer", "--join-key", "cid")
    line = cli(*SMALL_DEMO, "--reset", code=4).error_line()
    assert "join key 'cid'" in line and "fstore --home" in line
