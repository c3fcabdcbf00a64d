"""Fetches the pinned Kafka runtime (broker jars and logging) from Maven Central into a local cache.

Maven does the transitive resolution from a generated ``pom`` so the pinned coordinates below are
the whole bill of materials. The jars land in ``<cache>/libs`` through a temporary directory that is
renamed into place, so an interrupted fetch never leaves a half-filled cache behind.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.localkafka.errors import LocalKafkaError
from core.settings import Settings, get_settings

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
RUNTIME_ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("org.apache.kafka", f"kafka_{SCALA_VERSION}", KAFKA_VERSION),
    ("org.slf4j", "slf4j-api", "2.0.17"),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.24.3"),
    ("org.apache.logging.log4j", "log4j-core", "2.24.3"),
)
RESOLVE_TIMEOUT_S = 900.0
_COMPLETE_MARKER = ".complete"


def runtime_cache_dir(settings: Settings | None = None) -> Path:
    """Where the runtime for the pinned version lives: the ``kafka_cache`` setting
    (``TILIK_KAFKA_CACHE``), else a directory per Kafka version under the cache dir."""
    settings = settings or get_settings()
    if settings.kafka_cache is not None:
        return settings.kafka_cache.expanduser()
    return settings.cache_dir / "kafka" / KAFKA_VERSION


def render_pom() -> str:
    """A ``pom``-packaged project whose only purpose is to name the runtime's dependencies."""
    dependencies = "\n".join(
        f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>"
        for group, artifact, version in RUNTIME_ARTIFACTS
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>core.localkafka</groupId><artifactId>kafka-runtime</artifactId>"
        f"<version>{KAFKA_VERSION}</version><packaging>pom</packaging>\n"
        f"  <dependencies>\n{dependencies}\n  </dependencies>\n"
        "</project>\n"
    )


def libs_dir(cache: Path) -> Path:
    return cache / "libs"


def is_resolved(cache: Path) -> bool:
    return (libs_dir(cache) / _COMPLETE_MARKER).is_file()


def ensure_runtime(cache: Path | None = None) -> Path:
    """The directory holding every runtime jar, resolving it with Maven on first use."""
    cache = runtime_cache_dir() if cache is None else cache
    if is_resolved(cache):
        return libs_dir(cache)
    cache.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache / ".lock"):
        # Another process may have finished the fetch while this one waited for the lock.
        if not is_resolved(cache):
            _resolve_into(cache)
    return libs_dir(cache)


def _resolve_into(cache: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            "Maven ('mvn') is needed once to fetch the Kafka jars from Maven Central; install it "
            "or point TILIK_KAFKA_CACHE at a directory that already holds libs/"
        )
    with tempfile.TemporaryDirectory(dir=cache, prefix="resolve-") as work:
        work_dir = Path(work)
        (work_dir / "pom.xml").write_text(render_pom(), encoding="utf-8")
        staged = work_dir / "libs"
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(work_dir / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staged}",
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalKafkaError(f"Maven did not finish within {RESOLVE_TIMEOUT_S:.0f} s") from exc
        if result.returncode != 0 or not any(staged.glob("kafka_*.jar")):
            output = (result.stdout + result.stderr).strip()[-2000:]
            raise LocalKafkaError(f"Maven could not resolve Kafka {KAFKA_VERSION}:\n{output}")
        (staged / _COMPLETE_MARKER).write_text(KAFKA_VERSION + "\n", encoding="utf-8")
        target = libs_dir(cache)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
