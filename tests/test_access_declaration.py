"""The access declaration on its own: what each role may do, and the docs rendered from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from topics.access.docs import TABLE_END, TABLE_START, render_access_table, replace_table
from topics.access.roles import (
    Operation,
    Resource,
    RoleKind,
    agency_role,
    api_role,
    declared_roles,
    hub_role,
    is_managed,
    role_of_user,
    tenant_role,
)
from topics.catalog import (
    API_KEYS,
    AUDIT,
    CAMERA_CHOICES,
    CAMERA_REGISTRY,
    CAMERA_REMOVALS,
    CAMERA_STATUS,
    DEVICE_EVENTS,
    NETWORK_GRANTS,
    SEALED_CREDENTIALS,
    ack_spec,
    all_topics,
    dispatch_spec,
    tenant_topics,
)
from topics.docs import asyncapi, channel_id

ACCESS_MD = Path(__file__).resolve().parent.parent / "docs" / "access.md"


def test_the_published_role_table_is_the_one_the_declaration_renders() -> None:
    document = ACCESS_MD.read_text(encoding="utf-8")
    assert replace_table(document, render_access_table()) == document, (
        "docs/access.md is out of date: run `tilik topics docs --access-doc docs/access.md`"
    )
    with pytest.raises(ValueError, match="no"):
        replace_table("no markers here", "table")
    assert TABLE_START in document and TABLE_END in document


def test_only_the_operator_is_a_super_user() -> None:
    roles = declared_roles(["dishub"], ["paragon"])
    assert [r.kind for r in roles if r.super_user] == [RoleKind.OPERATOR]
    assert all(is_managed(r.principal) for r in roles if not r.super_user)
    assert not is_managed("User:tilik-admin") and not is_managed("User:someone-else")


def test_an_agency_may_touch_nothing_of_an_agency_whose_id_begins_like_its_own() -> None:
    short, long = agency_role("dis"), agency_role("dishub")
    assert short.allows(Resource.TOPIC, dispatch_spec("dis").name, Operation.READ)
    assert short.allows(Resource.TOPIC, ack_spec("dis").name, Operation.WRITE)
    for name in (dispatch_spec("dishub").name, ack_spec("dishub").name):
        assert not short.allows(Resource.TOPIC, name, Operation.READ)
        assert not short.allows(Resource.TOPIC, name, Operation.WRITE)
    assert short.allows(Resource.GROUP, "agency-dis.desk", Operation.READ)
    assert not short.allows(Resource.GROUP, "agency-dishub.desk", Operation.READ)
    assert not long.allows(Resource.TOPIC, dispatch_spec("dis").name, Operation.DESCRIBE)
    # Its own dispatches are read-only; the shared topics are not its business at all.
    assert not short.allows(Resource.TOPIC, dispatch_spec("dis").name, Operation.WRITE)
    for spec in all_topics():
        if spec.name not in (dispatch_spec("dis").name, ack_spec("dis").name):
            assert not short.allows(Resource.TOPIC, spec.name, Operation.DESCRIBE), spec.name


def test_a_tenant_writes_only_its_ingest_topics_and_reads_only_its_site_configuration() -> None:
    role = tenant_role("paragon")
    own = tenant_topics("paragon")
    allowed = {
        (spec.name, operation)
        for spec in [*all_topics(), *own.all, *tenant_topics("paragon2").all]
        for operation in (Operation.READ, Operation.WRITE)
        if role.allows(Resource.TOPIC, spec.name, operation)
    }
    assert allowed == {
        *((spec.name, Operation.WRITE) for spec in own.ingest),
        (own.site_config.name, Operation.READ),
    }


def test_the_hub_reads_tenants_ingest_but_not_their_site_configuration() -> None:
    hub = hub_role(["paragon"])
    topics = tenant_topics("paragon")
    assert all(hub.allows(Resource.TOPIC, s.name, Operation.READ) for s in topics.ingest)
    assert not any(hub.allows(Resource.TOPIC, s.name, Operation.WRITE) for s in topics.all)
    assert not hub.allows(Resource.TOPIC, topics.site_config.name, Operation.READ)
    # Its ingest agent republishes tenants' records into the shared registry, status and events.
    assert hub.allows(Resource.TOPIC, CAMERA_REGISTRY.name, Operation.WRITE)
    # It applies tenants' choices (read, never written: only the API writes them), and marks a
    # revoked camera removed.
    assert hub.allows(Resource.TOPIC, CAMERA_CHOICES.name, Operation.READ)
    assert not hub.allows(Resource.TOPIC, CAMERA_CHOICES.name, Operation.WRITE)
    assert hub.allows(Resource.TOPIC, CAMERA_REMOVALS.name, Operation.WRITE)
    assert hub.allows(Resource.GROUP, "tilik-hub-east", Operation.READ)


def test_user_names_map_back_to_their_roles() -> None:
    assert role_of_user("agency-dishub") == agency_role("dishub")
    assert role_of_user("tenant-paragon") == tenant_role("paragon")
    assert role_of_user("tilik-hub") == hub_role()
    assert role_of_user("someone") is None


def test_every_channel_names_its_readers_and_writers_and_outsiders_send_only_where_they_may() -> (
    None
):
    document = asyncapi()
    channels = document["channels"]
    dishub = channels[channel_id(dispatch_spec("dishub"))]["x-tilik-access"]
    assert "agency dishub" in dishub["read"] and "agency polisi" not in dishub["read"]
    assert dishub["write"] == ["hub"]
    acks = channels[channel_id(ack_spec("dishub"))]["x-tilik-access"]
    # The API writes an agency's acknowledgements for it, on the topic its key names.
    assert set(acks["write"]) == {"hub", "api", "agency dishub"}
    events = channels[channel_id(DEVICE_EVENTS)]["x-tilik-access"]
    assert events == {"read": ["hub"], "write": ["hub", "connector"]}
    assert channels[channel_id(AUDIT)]["x-tilik-access"]["read"] == []
    sends = {
        op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "send"
    }
    assert f"#/channels/{channel_id(ack_spec('dishub'))}" in sends
    assert f"#/channels/{channel_id(tenant_topics('{tenant}').events)}" in sends
    assert f"#/channels/{channel_id(dispatch_spec('dishub'))}" not in sends
    assert document["components"]["securitySchemes"]["scram"]["type"] == "scramSha512"


def test_the_api_reads_its_keys_and_agencies_topics_and_writes_only_keys_acks_audit_sites_and_choices() -> (
    None
):
    api = api_role(["paragon"])
    shared = [*all_topics(["dishub"]), *tenant_topics("paragon").all]
    writes = {s.name for s in shared if api.allows(Resource.TOPIC, s.name, Operation.WRITE)}
    assert writes == {
        API_KEYS.name,
        ack_spec("dishub").name,
        AUDIT.name,
        tenant_topics("paragon").site_config.name,
        SEALED_CREDENTIALS.name,
        NETWORK_GRANTS.name,
        CAMERA_CHOICES.name,
    }
    reads = {s.name for s in shared if api.allows(Resource.TOPIC, s.name, Operation.READ)}
    assert reads == {
        API_KEYS.name,
        CAMERA_REGISTRY.name,
        CAMERA_STATUS.name,
        CAMERA_CHOICES.name,
        dispatch_spec("dishub").name,
        ack_spec("dishub").name,
        NETWORK_GRANTS.name,
        tenant_topics("paragon").site_config.name,
    }


def test_only_the_connector_runtime_reads_sealed_credentials_and_only_the_api_writes_them() -> None:
    roles = [role for role in declared_roles(["dishub"], ["paragon"]) if not role.super_user]
    readers = {
        role.kind.value
        for role in roles
        if role.allows(Resource.TOPIC, SEALED_CREDENTIALS.name, Operation.READ)
    }
    writers = {
        role.kind.value
        for role in roles
        if role.allows(Resource.TOPIC, SEALED_CREDENTIALS.name, Operation.WRITE)
    }
    assert readers == {"connector"}  # the API seals to a public key; the hub never sees them
    assert writers == {"api"}
    grant_readers = {
        role.kind.value
        for role in roles
        if role.allows(Resource.TOPIC, NETWORK_GRANTS.name, Operation.READ)
    }
    assert grant_readers == {"api", "connector"}
