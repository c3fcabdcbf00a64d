"""Session fixtures shared by every test: one real, secure Kafka broker per test session.

``kafka_bootstrap`` starts a single-node KRaft broker on free loopback ports with a fresh data
dir, as ``tilik kafka start --tls`` would: SASL/SCRAM-SHA-512 listeners, ``StandardAuthorizer``
with nothing allowed by default, a generated admin (the only super user) and a TLS listener. It
exports ``TILIK_BOOTSTRAP`` and ``TILIK_CLIENT_CONFIG`` (the admin's client config), so code under
test and the ``tilik`` processes it spawns connect as the operator unless told otherwise.
``kafka_principals`` adds the hub and connector principals (with the declared ACLs and the
catalog applied) for tests that run those processes as themselves.

``TILIK_TEST_BOOTSTRAP=host:port`` uses a running broker instead (with ``TILIK_CLIENT_CONFIG``
naming its admin's client config); ``TILIK_TEST_BROKER=compose`` brings up the ``kafka`` service
of ``compose/`` through pytest-docker (skipped when no Docker engine answers). A failing test that
used the broker gets the tail of the broker's log in its report.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from kafka.errors import KafkaError

from core import logconfig
from core.localkafka import LocalKafka, LocalKafkaError
from core.localkafka.ready import registered_brokers
from core.settings import Settings
from topics.access.roles import Role

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
        with _exported_bootstrap(external, os.environ.get("TILIK_CLIENT_CONFIG")):
            yield external
        return
    if os.environ.get(BROKER_MODE_ENV) == "compose":
        bootstrap = _compose_bootstrap(request)
        with _exported_bootstrap(bootstrap, os.environ.get("TILIK_CLIENT_CONFIG")):
            yield bootstrap
        return
    broker = LocalKafka(
        tmp_path_factory.mktemp("kafka"),
        nodes=1,
        port=0,
        heap_mb=512,
        stop_with_this_process=True,
        tls=True,
    )
    try:
        bootstrap = broker.start()
    except LocalKafkaError as exc:
        broker.stop(timeout=5.0)
        pytest.fail(f"the session Kafka broker did not start: {exc}", pytrace=False)
    _session_broker = broker
    try:
        with _exported_bootstrap(bootstrap, str(broker.admin_file)):
            yield bootstrap
    finally:
        _session_broker = None
        broker.stop()


@pytest.fixture(scope="session")
def session_broker(kafka_bootstrap: str) -> LocalKafka:
    """The session's own broker (tests that need its files: the admin config, the TLS CA)."""
    if _session_broker is None:
        pytest.skip("needs the session's own local broker, not an external one")
    return _session_broker


@dataclass
class Principals:
    """Client config files of the session's principals; ``env(...)`` runs a process as one,
    ``settings(...)`` makes an in-process client one."""

    bootstrap: str
    admin: Path
    hub: Path
    connector: Path
    out: Path
    issued: dict[str, Path]

    @staticmethod
    def env(config: Path) -> dict[str, str]:
        return {"TILIK_CLIENT_CONFIG": str(config)}

    @staticmethod
    def settings(config: Path) -> Settings:
        return Settings(client_config=config)

    def issue(self, role: Role) -> Path:
        """The client config of ``role``'s principal, added (with its topics and ACLs) on first use."""
        if role.user not in self.issued:
            from topics.access.manage import AccessAdmin, Issuer

            access = AccessAdmin(self.bootstrap, actor="tests", issuer=Issuer(self.bootstrap, None))
            # On a thread of its own: sync and async tests alike may ask.
            with ThreadPoolExecutor(1) as thread:
                adding = access.add(role, out=self.out / f"{role.user}.properties")
                issued = thread.submit(asyncio.run, adding).result()
            self.issued[role.user] = issued.path
        return self.issued[role.user]


@pytest.fixture(scope="session")
def kafka_principals(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Principals:
    """The catalog applied, and the hub and connector principals with their declared ACLs."""
    from topics.access.manage import AccessAdmin, Issuer
    from topics.access.roles import connector_role, hub_role

    admin_file = Path(os.environ["TILIK_CLIENT_CONFIG"])
    out = tmp_path_factory.mktemp("principals")
    access = AccessAdmin(kafka_bootstrap, actor="tests", issuer=Issuer(kafka_bootstrap, None))
    # The layout `tilik demo --principals` reads: the demo runs as these principals too.
    hub, connector = asyncio.run(access.provision(out, [hub_role(), connector_role()]))
    return Principals(kafka_bootstrap, admin_file, hub, connector, out, {})


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
def _exported_bootstrap(bootstrap: str, client_config: str | None) -> Iterator[None]:
    """Sets ``TILIK_BOOTSTRAP`` and ``TILIK_CLIENT_CONFIG`` for code under test and its subprocesses."""
    exported = {"TILIK_BOOTSTRAP": bootstrap, "TILIK_CLIENT_CONFIG": client_config}
    previous = {name: os.environ.get(name) for name in exported}
    for name, value in exported.items():
        if value is not None:
            os.environ[name] = value
    _forget_cached_settings()
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _forget_cached_settings()


def _forget_cached_settings() -> None:
    from core.settings import get_settings

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
    if not os.environ.get("TILIK_CLIENT_CONFIG"):
        # The stack's admin, with the bootstrap the host reaches (TILIK_BOOTSTRAP overrides it).
        admin = (
            Path(request.getfixturevalue("tmp_path_factory").mktemp("compose")) / "admin.properties"
        )
        subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_DIR / "docker-compose.yml"),
             "-p", "tilik-tests", "cp", "kafka:/etc/tilik/clients/admin/client.properties",
             str(admin)],
            check=True,
            timeout=60,
        )  # fmt: skip
        os.environ["TILIK_CLIENT_CONFIG"] = str(admin)
        _forget_cached_settings()

    def answers() -> bool:
        from topics.connection import connection_config

        try:
            return registered_brokers(COMPOSE_BOOTSTRAP, connection_config(COMPOSE_BOOTSTRAP)) >= 1
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


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that configures logging (a CLI run in-process does) leaves it as it found it: its
    level filter would otherwise hide a later test's debug lines from ``capture_logs``, and a
    later CLI run would find logging "configured" and not route its lines to stderr."""
    saved = structlog.get_config()
    configured = logconfig._configured
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    logconfig._configured = configured
    root.handlers[:] = handlers
    root.setLevel(level)
