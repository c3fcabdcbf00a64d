"""`topics apply` against a real broker: create, idempotence, config reconciliation, partitions."""

from __future__ import annotations

import dataclasses

import pytest
from catalog_helpers import private_spec
from kafka.admin import ConfigResource, ConfigResourceType

from topics.admin import (
    Action,
    PartitionShrinkRefused,
    admin_client,
    apply_catalog,
    broker_state,
)
from topics.catalog import DAY_MS
from topics.models import CameraRecord, CameraStatus

pytestmark = pytest.mark.kafka


def test_apply_creates_missing_topics_then_reports_no_changes(kafka_bootstrap: str):
    specs = [private_spec(CameraStatus, partitions=3), private_spec(CameraRecord, compact=True)]
    first = apply_catalog(specs, bootstrap=kafka_bootstrap, replication_factor=1)
    assert [(c.topic, c.action) for c in first.changes] == [(s.name, Action.CREATE) for s in specs]

    states = broker_state(specs, bootstrap=kafka_bootstrap)
    assert states[specs[0].name].partitions == 3
    assert states[specs[1].name].configs["cleanup.policy"] == "compact"
    assert states[specs[1].name].configs["retention.ms"] == "-1"

    second = apply_catalog(specs, bootstrap=kafka_bootstrap, replication_factor=1)
    assert second.empty


def test_dry_run_changes_nothing(kafka_bootstrap: str):
    spec = private_spec(CameraStatus)
    plan = apply_catalog([spec], bootstrap=kafka_bootstrap, dry_run=True)
    assert [c.action for c in plan.changes] == [Action.CREATE]
    assert broker_state([spec], bootstrap=kafka_bootstrap) == {}


def test_retention_changed_on_the_broker_is_reconciled(kafka_bootstrap: str):
    spec = private_spec(CameraStatus, retention_ms=2 * DAY_MS)
    apply_catalog([spec], bootstrap=kafka_bootstrap)
    with admin_client(kafka_bootstrap) as client:
        client.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name, configs={"retention.ms": "1234"})],
            incremental=True,
            raise_on_unknown=False,
        )
    assert (
        broker_state([spec], bootstrap=kafka_bootstrap)[spec.name].configs["retention.ms"] == "1234"
    )

    plan = apply_catalog([spec], bootstrap=kafka_bootstrap)
    [change] = plan.changes
    assert change.action is Action.ALTER_CONFIGS
    assert "retention.ms: 1234 -> 172800000" in change.details
    state = broker_state([spec], bootstrap=kafka_bootstrap)[spec.name]
    assert state.configs["retention.ms"] == str(2 * DAY_MS)


def test_a_changed_declaration_is_applied(kafka_bootstrap: str):
    spec = private_spec(CameraStatus, partitions=2)
    apply_catalog([spec], bootstrap=kafka_bootstrap)
    grown = dataclasses.replace(spec, partitions=4, retention_ms=5 * DAY_MS)
    plan = apply_catalog([grown], bootstrap=kafka_bootstrap)
    assert {c.action for c in plan.changes} == {Action.ADD_PARTITIONS, Action.ALTER_CONFIGS}
    state = broker_state([grown], bootstrap=kafka_bootstrap)[spec.name]
    assert state.partitions == 4
    assert state.configs["retention.ms"] == str(5 * DAY_MS)
    assert apply_catalog([grown], bootstrap=kafka_bootstrap).empty


def test_shrinking_partitions_is_refused_before_anything_changes(kafka_bootstrap: str):
    spec = private_spec(CameraStatus, partitions=3)
    other = private_spec(CameraStatus)
    apply_catalog([spec], bootstrap=kafka_bootstrap)
    shrunk = dataclasses.replace(spec, partitions=1)
    with pytest.raises(PartitionShrinkRefused, match="cannot shrink"):
        apply_catalog([other, shrunk], bootstrap=kafka_bootstrap)
    states = broker_state([spec, other], bootstrap=kafka_bootstrap)
    assert states[spec.name].partitions == 3
    assert other.name not in states
