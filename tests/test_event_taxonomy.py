"""The taxonomy's v2 additions: class lists, their main class, temperature and the topic versions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.sdk.vocabulary import class_list, detector, object_classes
from topics.catalog import ALERTS, DEVICE_EVENTS, dispatch_topic_name, tenant_topics
from topics.models import MAX_OBJECT_CLASSES, EventAttributes, EventKind, ObjectClass

H, V, A = ObjectClass.HUMAN, ObjectClass.VEHICLE, ObjectClass.ANIMAL


def test_one_class_or_a_list_gives_both_with_the_main_class_first() -> None:
    assert EventAttributes(object_class=H).object_classes == [H]
    assert EventAttributes(object_classes=[V, H]).object_class is V
    both = EventAttributes(object_class=H, object_classes=[V, H, V])
    assert (both.object_class, both.object_classes) == (H, [H, V])
    assert EventAttributes(object_class=A, object_classes=[V]).object_classes == [A, V]
    assert EventAttributes().object_classes is None


def test_a_devices_list_form_is_read_and_survives_a_round_trip() -> None:
    attrs = EventAttributes.model_validate({"object_classes": "human animal"})
    assert attrs.object_classes == [H, A]
    assert EventAttributes.model_validate_json(attrs.model_dump_json()) == attrs


def test_more_classes_than_one_detection_names_are_refused() -> None:
    with pytest.raises(ValidationError):
        EventAttributes(object_classes=[H] * (MAX_OBJECT_CLASSES + 1))


@pytest.mark.parametrize("celsius", [-300.0, 5_001.0])
def test_a_temperature_outside_physics_is_refused(celsius: float) -> None:
    with pytest.raises(ValidationError):
        EventAttributes(temperature_c=celsius)


def test_vendor_words_keep_every_class_and_name_detectors() -> None:
    assert object_classes("Human Animal") == [H, A]
    assert object_classes("human,vehicle;Human") == [H, V]
    assert object_classes("Non-Motor Spaceship") == [ObjectClass.BICYCLE, ObjectClass.OTHER]
    assert object_classes("  ") == []
    assert class_list("Person MotorVehicle") == "human vehicle"
    for name in ("IsPeople", "PeopleDetect", "PeopleDetector", "People"):
        found = detector(name)
        assert found is not None and (found.kind, found.object_class) == (
            EventKind.OBJECT_DETECTED,
            H,
        )
    assert detector("TPSmartEvent") is None and detector("BabyCryDetect") is not None


def test_the_new_kinds_and_categories_are_new_topic_versions() -> None:
    assert DEVICE_EVENTS.name == "tilik.events.device.v2"
    assert tenant_topics("mall").events.name == "tilik.tenant.mall.events.v2"
    assert ALERTS.name == "tilik.alerts.v2"
    assert dispatch_topic_name("bpbd") == "tilik.dispatch.bpbd.v2"
