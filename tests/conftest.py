"""Session fixtures shared by every test: one real Kafka broker per test session.

``kafka_bootstrap`` starts a single-node KRaft broker on free loopback ports with a fresh data
dir and stops it when the session ends. ``TILIK_TEST_BOOTSTRAP=host:port`` uses a running broker
instead; ``TILIK_TEST_BROKER=compose`` brings up the ``kafka`` service of ``compose/`` through
pytest-docker (skipped when no Docker engine answers). A failing test that used the broker gets
the tail of the broker's log in its report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka.errors import KafkaError

from tilik.localkafka import LocalKafka, LocalKafkaError
from tilik.localkafka.ready import registered_brokers

EXTERNAL_BROKER_ENV = "TILIK_TEST_BOOTSTRAP"
BROKER_MODE_ENV = "TILIK_TEST_BROKER"
COMPOSE_DIR = Path(__file__).resolve().parent.parent / "compose"
COMPOSE_BOOTSTRAP = "127.0.0.1:9092"
LOG_TAIL_LINES = 60

pytest_plugins = ("pytester",)

_session_broker: LocalKafka | None = None


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """bootstrap address of the session's broker, also exported as ``TILIK_BOOTSTRAP``."""
    global _session_broker
    external = os.environ.get(EXTERNAL_BROKER_ENV)
    if external:
        with _exported_bootstrap(external):
            yield external
        return
    if os.environ.get(BROKER_MODE_ENV) == "compose":
        bootstrap = _compose_bootstrap(request)
        with _exported_bootstrap(bootstrap):
            yield bootstrap
        return
    broker = LocalKafka(
        tmp_path_factory.mktemp("kafka"), nodes=1, port=0, heap_mb=512, stop_with_this_process=True
    )
    try:
        bootstrap = broker.start()
    except LocalKafkaError as exc:
        broker.stop(timeout=5.0)
        pytest.fail(f"the session Kafka broker did not start: {exc}", pytrace=False)
    _session_broker = broker
    try:
        with _exported_bootstrap(bootstrap):
            yield bootstrap
    finally:
        _session_broker = None
        broker.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    broker = _session_broker
    if (
        report.failed
        and broker is not None
        and "kafka_bootstrap" in getattr(item, "fixturenames", ())
    ):
        report.sections.append(("kafka broker log (tail)", broker.log_tail(LOG_TAIL_LINES)))
    return report


@contextmanager
def _exported_bootstrap(bootstrap: str) -> Iterator[None]:
    """Sets ``TILIK_BOOTSTRAP`` for code under test and the subprocesses it spawns."""
    previous = os.environ.get("TILIK_BOOTSTRAP")
    os.environ["TILIK_BOOTSTRAP"] = bootstrap
    _forget_cached_settings()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TILIK_BOOTSTRAP", None)
        else:
            os.environ["TILIK_BOOTSTRAP"] = previous
        _forget_cached_settings()


def _forget_cached_settings() -> None:
    from tilik.settings import get_settings

    get_settings.cache_clear()


def _docker_engine_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no 'docker' command on PATH"
    probe = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if probe.returncode != 0 or not probe.stdout.strip():
        return (probe.stderr.strip() or "docker info failed").splitlines()[-1]
    plugin = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=20, check=False
    )
    if plugin.returncode != 0:
        return "the Docker Compose plugin ('docker compose') is not installed"
    return None


def _compose_bootstrap(request: pytest.FixtureRequest) -> str:
    problem = _docker_engine_problem()
    if problem is not None:
        pytest.skip(f"{BROKER_MODE_ENV}=compose needs a running Docker engine: {problem}")
    services = request.getfixturevalue("docker_services")

    def answers() -> bool:
        try:
            return registered_brokers(COMPOSE_BOOTSTRAP) >= 1
        except KafkaError:
            return False

    services.wait_until_responsive(check=answers, timeout=120.0, pause=1.0)
    return COMPOSE_BOOTSTRAP


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    """pytest-docker: the project's single-node compose file."""
    return str(COMPOSE_DIR / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return "tilik-tests"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """pytest-docker: only the broker; the tilik services are exercised by the tests themselves."""
    return ["up -d kafka"]
