"""Access on the session's secure broker, with real SCRAM credentials and ACLs: every test proves a
refusal, not only a success.

Agencies and tenants connect the way they would from outside: through the TLS listener, with the
client config ``tilik access`` issued them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from conftest import Principals

from core.clientconfig import ClientConfig
from core.localkafka import LocalKafka
from core.settings import Settings
from topics.access.manage import AccessAdmin, AccessError, Issued, Issuer
from topics.access.roles import agency_role, tenant_role
from topics.catalog import (
    ALERTS,
    AUDIT,
    CAMERA_CHOICES,
    CAMERA_REGISTRY,
    CAMERA_REMOVALS,
    CAMERA_STATUS,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    TopicSpec,
    ack_spec,
    dispatch_spec,
    dispatch_topic_name,
    tenant_topics,
)
from topics.client import CatalogConsumer, CatalogProducer, read_table
from topics.connection import AuthenticationRefused, AuthorizationRefused
from topics.examples import example
from topics.models import AlertAck, Dispatch, SiteConfig

pytestmark = pytest.mark.kafka


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def access(
    kafka_bootstrap: str, kafka_principals: Principals, session_broker: LocalKafka
) -> AccessAdmin:
    """The operator, issuing client configs for the TLS listener with the broker's CA."""
    layout = session_broker.layout
    assert layout is not None and layout.tls_bootstrap is not None
    issuer = Issuer(layout.tls_bootstrap, session_broker.tls_files.ca.read_text())
    return AccessAdmin(kafka_bootstrap, issuer=issuer, actor="tests")


def as_principal(issued: Issued) -> Settings:
    return Settings(client_config=issued.path)


async def first_message(spec: TopicSpec, settings: Settings, group: str | None = None) -> object:
    async with CatalogConsumer(
        spec, group_id=group, component="test.access", settings=settings
    ) as consumer:
        received = await consumer.next(timeout_s=30)
        assert received is not None, f"nothing on {spec.name}"
        return received.value


async def test_an_agency_reads_its_own_dispatches_and_is_refused_another_agencys(
    access: AccessAdmin, kafka_bootstrap: str, tmp_path: Path
) -> None:
    mine, theirs = unique("ag"), unique("ag")
    me = await access.add(agency_role(mine), out=tmp_path / "me.properties")
    await access.add(agency_role(theirs), out=tmp_path / "them.properties")
    assert me.config.security_protocol == "SASL_SSL"
    for_me = example(Dispatch, seed=mine).model_copy(update={"agency": mine})
    for_them = example(Dispatch, seed=theirs).model_copy(update={"agency": theirs})
    async with CatalogProducer(kafka_bootstrap) as operator:
        await operator.send(dispatch_spec(mine), for_me)
        await operator.send(dispatch_spec(theirs), for_them)
    settings = as_principal(me)

    assert await first_message(dispatch_spec(mine), settings, group=f"agency-{mine}.desk") == for_me
    with pytest.raises(AuthorizationRefused) as refused:
        await first_message(dispatch_spec(theirs), settings)
    assert str(refused.value) == (
        f"User:agency-{mine} is not allowed to read {dispatch_topic_name(theirs)}"
    )
    # Its own topic, but in a consumer group outside its prefix.
    with pytest.raises(AuthorizationRefused, match="consumer group is not allowed"):
        await first_message(dispatch_spec(mine), settings, group=f"agency-{theirs}.desk")


async def test_an_agency_acknowledges_only_on_its_own_topic(
    access: AccessAdmin, tmp_path: Path
) -> None:
    mine, theirs = unique("ag"), unique("ag")
    me = await access.add(agency_role(mine), out=tmp_path / "me.properties")
    await access.add(agency_role(theirs), out=tmp_path / "them.properties")
    ack = example(AlertAck).model_copy(update={"agency": mine})
    async with CatalogProducer(settings=as_principal(me)) as agency:
        await agency.send(ack_spec(mine), ack)
        for spec in (ack_spec(theirs), dispatch_spec(mine), ALERTS):
            with pytest.raises(AuthorizationRefused, match=f"write to {spec.name}"):
                await agency.send(spec, example(spec.value_model))


async def test_a_tenants_sites_write_only_their_own_ingest_topics(
    access: AccessAdmin, kafka_bootstrap: str, tmp_path: Path
) -> None:
    mine, theirs = unique("tn"), unique("tn")
    me = await access.add(tenant_role(mine), out=tmp_path / "me.properties")
    await access.add(tenant_role(theirs), out=tmp_path / "them.properties")
    own, other = tenant_topics(mine), tenant_topics(theirs)
    async with CatalogProducer(settings=as_principal(me)) as site:
        for spec in own.ingest:
            await site.send(spec, example(spec.value_model, seed=mine))
        shared = [CAMERA_REGISTRY, CAMERA_STATUS, DEVICE_EVENTS, ALERTS, DEAD_LETTERS, AUDIT]
        # Its choices about its cameras go through `tilik api`, which checks them first.
        shared += [CAMERA_CHOICES, CAMERA_REMOVALS]
        for spec in [*shared, *other.ingest, own.site_config, other.site_config]:
            with pytest.raises(AuthorizationRefused, match=f"write to {spec.name}"):
                await site.send(spec, example(spec.value_model, seed=mine))


async def test_a_tenants_sites_read_only_their_own_site_configuration(
    access: AccessAdmin, kafka_bootstrap: str, tmp_path: Path
) -> None:
    mine, theirs = unique("tn"), unique("tn")
    me = await access.add(tenant_role(mine), out=tmp_path / "me.properties")
    await access.add(tenant_role(theirs), out=tmp_path / "them.properties")
    config = example(SiteConfig, seed=mine).model_copy(update={"tenant_id": mine})
    async with CatalogProducer(kafka_bootstrap) as operator:
        await operator.send(tenant_topics(mine).site_config, config)
    settings = as_principal(me)
    async with CatalogProducer(settings=settings) as site:
        # Its sites write their events; reading them back is not theirs to do.
        await site.send(own_events := tenant_topics(mine).events, example(own_events.value_model))
    table = await read_table(tenant_topics(mine).site_config, settings=settings, timeout_s=30)
    assert table == {config.site_id: config}
    for spec in (tenant_topics(theirs).site_config, CAMERA_REGISTRY, tenant_topics(mine).events):
        with pytest.raises(AuthorizationRefused, match=f"read {spec.name}"):
            await read_table(spec, settings=settings, timeout_s=30)


async def test_an_unauthenticated_client_is_refused(
    kafka_bootstrap: str, kafka_principals: Principals
) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)
    # No SASL at all: the broker expects a SASL handshake and drops the connection.
    with pytest.raises((KafkaError, OSError)):
        connection = await create_conn(host, int(port), request_timeout_ms=5000)
        try:
            await connection.send(MetadataRequest([]))
        finally:
            connection.close()
    # A principal the broker does not know: a one-line error naming it, never the password.
    stranger = ClientConfig(
        bootstrap=kafka_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        mechanism="SCRAM-SHA-512",
        username="nobody",
        password="not-a-password-4d1e",
    )
    path = kafka_principals.out / "nobody.properties"
    path.write_text(stranger.render())
    with pytest.raises(AuthenticationRefused) as refused:
        async with CatalogProducer(settings=Settings(client_config=path)):
            pass
    message = str(refused.value)
    assert "User:nobody" in message and "\n" not in message
    assert "not-a-password-4d1e" not in message


async def test_a_rotated_password_replaces_the_old_one(access: AccessAdmin, tmp_path: Path) -> None:
    name = unique("ag")
    old = await access.add(agency_role(name), out=tmp_path / "old.properties")
    new = await access.rotate(agency_role(name), out=tmp_path / "new.properties")
    assert new.password != old.password
    async with CatalogProducer(settings=as_principal(new)) as agency:
        await agency.send(ack_spec(name), example(AlertAck).model_copy(update={"agency": name}))
    with pytest.raises(AuthenticationRefused, match=f"User:agency-{name}"):
        async with CatalogProducer(settings=as_principal(old)):
            pass


async def test_provisioning_without_rotation_refuses_a_principal_whose_config_is_elsewhere(
    access: AccessAdmin, tmp_path: Path
) -> None:
    # `tilik demo` on a broker it did not start: the principal may be in use by running services.
    name = unique("ag")
    issued = await access.add(agency_role(name), out=tmp_path / "in-use.properties")
    with pytest.raises(AccessError, match="rotating it would cut off"):
        await access.ensure(agency_role(name), out=tmp_path / "demo.properties", rotate=False)
    assert not (tmp_path / "demo.properties").exists()
    # The principal in use still works.
    async with CatalogProducer(settings=as_principal(issued)) as agency:
        await agency.send(ack_spec(name), example(AlertAck).model_copy(update={"agency": name}))
    # Its own config where asked: nothing to do.
    assert await access.ensure(agency_role(name), out=tmp_path / "in-use.properties") is None


@pytest.mark.slow
async def test_a_revoked_principal_is_cut_off_within_the_reauthentication_bound(
    access: AccessAdmin, session_broker: LocalKafka, kafka_bootstrap: str, tmp_path: Path
) -> None:
    layout = session_broker.layout
    assert layout is not None
    bound_s = layout.reauth_ms / 1000
    name = unique("ag")
    issued = await access.add(agency_role(name), out=tmp_path / "agency.properties")
    dispatch = example(Dispatch, seed=name).model_copy(update={"agency": name})
    async with CatalogProducer(kafka_bootstrap) as operator:
        await operator.send(dispatch_spec(name), dispatch)
    reader = CatalogConsumer(
        dispatch_spec(name), group_id=None, component="test.access", settings=as_principal(issued)
    )
    received = await reader.next(timeout_s=30)
    assert received is not None and received.value == dispatch
    options = issued.config.kafka_options()
    host, port = issued.config.bootstrap.split(",")[0].rsplit(":", 1)
    keys = ("security_protocol", "ssl_context", "sasl_mechanism")
    credentials = {key: options[key] for key in keys}
    credentials.update(
        sasl_plain_username=options["sasl_plain_username"],
        sasl_plain_password=options["sasl_plain_password"],
    )
    # An open, authenticated connection of the agency, as a long-running consumer holds one.
    connection = await create_conn(host, int(port), **credentials)
    authenticated_at = time.monotonic()
    try:
        await access.revoke(agency_role(name))
        revoked_at = time.monotonic()
        # A new connection is refused at once...
        with pytest.raises(AuthenticationRefused, match=f"User:agency-{name}"):
            async with CatalogProducer(settings=as_principal(issued)):
                pass
        # ...and so is an open one's next read: ACLs are checked on every request.
        async with CatalogProducer(kafka_bootstrap) as operator:
            await operator.send(dispatch_spec(name), dispatch)
        with pytest.raises(AuthorizationRefused, match=f"read {dispatch_spec(name).name}"):
            await reader.next(timeout_s=30)
        # The revoked session itself lives on until the broker ends it: within the bound.
        deadline = authenticated_at + bound_s + 10
        cut_off_at = None
        while time.monotonic() < deadline:
            try:
                await connection.send(MetadataRequest([]))
            except KafkaConnectionError:
                cut_off_at = time.monotonic()
                break
            await asyncio.sleep(0.5)
        assert cut_off_at is not None, f"the session outlived the {bound_s:.0f} s bound"
        assert cut_off_at - authenticated_at <= bound_s + 2
        assert cut_off_at > revoked_at
        # And it cannot come back.
        with pytest.raises(KafkaError, match=r"SaslAuthenticationFailed|Authentication failed"):
            await create_conn(host, int(port), **credentials)
    finally:
        connection.close()
        await reader.stop()
