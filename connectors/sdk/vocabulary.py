"""Vendors' words for object classes and detectors, read into the taxonomy once for every parser.

Devices name what they saw in their own words: ``Human``, ``Person``, ``people``, ``DogCat``,
``MotorVehicle``, ``Non-Motor``; a detector is named in a topic segment (``…/People``,
``PeopleDetect``, ``FaceDetector``) or in a state item (``IsPeople``, ``IsLineCross``). These
tables say what each word means; the ONVIF topic table and the vendor code tables use them, so
the same word means the same thing whichever protocol brought it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from topics.models import MAX_OBJECT_CLASSES, EventKind, ObjectClass

#: a vendor's word for a class (lower case, letters and digits only) → the taxonomy's class
OBJECT_WORDS: dict[str, ObjectClass] = {
    "human": ObjectClass.HUMAN,
    "person": ObjectClass.HUMAN,
    "people": ObjectClass.HUMAN,
    "pedestrian": ObjectClass.HUMAN,
    "humanshape": ObjectClass.HUMAN,
    "face": ObjectClass.FACE,
    "vehicle": ObjectClass.VEHICLE,
    "vehical": ObjectClass.VEHICLE,
    "motorvehicle": ObjectClass.VEHICLE,
    "othervehicle": ObjectClass.VEHICLE,
    "car": ObjectClass.CAR,
    "motorcycle": ObjectClass.MOTORCYCLE,
    "motorbike": ObjectClass.MOTORCYCLE,
    "bike": ObjectClass.BICYCLE,
    "bicycle": ObjectClass.BICYCLE,
    "nonmotor": ObjectClass.BICYCLE,
    "nonmotorvehicle": ObjectClass.BICYCLE,
    "bus": ObjectClass.BUS,
    "truck": ObjectClass.TRUCK,
    "animal": ObjectClass.ANIMAL,
    "pet": ObjectClass.ANIMAL,
    "dog": ObjectClass.ANIMAL,
    "cat": ObjectClass.ANIMAL,
    "dogcat": ObjectClass.ANIMAL,
    "licenseplate": ObjectClass.LICENSE_PLATE,
    "plate": ObjectClass.LICENSE_PLATE,
}

_SEPARATORS = re.compile(r"[\s,;|]+")
_NOT_WORD = re.compile(r"[^a-z0-9]")


def word(text: str) -> str:
    """``'Non-Motor_Vehicle '`` → ``'nonmotorvehicle'``: how the tables spell a vendor's word."""
    return _NOT_WORD.sub("", text.lower())


def object_classes(text: str | None) -> list[ObjectClass]:
    """Every class a device's value names, in its order, without repeats: ``"Human Animal"`` →
    ``[human, animal]``. A word no table knows is ``other``; an empty value names none."""
    found: list[ObjectClass] = []
    for raw in _SEPARATORS.split(text or ""):
        if not raw:
            continue
        cls = OBJECT_WORDS.get(word(raw), ObjectClass.OTHER)
        if cls not in found:
            found.append(cls)
        if len(found) == MAX_OBJECT_CLASSES:
            break
    return found


def class_list(text: str | None) -> str:
    """``object_classes`` written as ``EventAttributes.object_classes`` reads a device's list."""
    return " ".join(cls.value for cls in object_classes(text))


@dataclass(frozen=True)
class Detector:
    """What a detector's name means: the event kind, and the class or detail it implies."""

    kind: EventKind
    object_class: ObjectClass | None = None
    detail: str | None = None


_HUMAN = Detector(EventKind.OBJECT_DETECTED, ObjectClass.HUMAN)
_VEHICLE = Detector(EventKind.OBJECT_DETECTED, ObjectClass.VEHICLE)
_ANIMAL = Detector(EventKind.OBJECT_DETECTED, ObjectClass.ANIMAL)

#: a detector's word (``detector_word``) → what it detects
DETECTOR_WORDS: dict[str, Detector] = {
    "motion": Detector(EventKind.MOTION),
    "pir": Detector(EventKind.MOTION, detail="pir"),
    "people": _HUMAN,
    "person": _HUMAN,
    "human": _HUMAN,
    "humanshape": _HUMAN,
    "pedestrian": _HUMAN,
    "vehicle": _VEHICLE,
    "car": Detector(EventKind.OBJECT_DETECTED, ObjectClass.CAR),
    "pet": _ANIMAL,
    "animal": _ANIMAL,
    "dogcat": _ANIMAL,
    "face": Detector(EventKind.FACE_DETECTED, ObjectClass.FACE),
    "linecross": Detector(EventKind.LINE_CROSSING),
    "linecrossing": Detector(EventKind.LINE_CROSSING),
    "crossline": Detector(EventKind.LINE_CROSSING),
    "tripwire": Detector(EventKind.LINE_CROSSING),
    "intrusion": Detector(EventKind.INTRUSION),
    "regionintrusion": Detector(EventKind.INTRUSION),
    "regionentrance": Detector(EventKind.REGION_ENTRANCE),
    "regionexiting": Detector(EventKind.REGION_EXIT),
    "tamper": Detector(EventKind.TAMPER),
    "tampering": Detector(EventKind.TAMPER),
    "loitering": Detector(EventKind.LOITERING),
    "parking": Detector(EventKind.PARKING_VIOLATION),
    "crowd": Detector(EventKind.CROWD_DENSITY),
    "abandonedobject": Detector(EventKind.OBJECT_ABANDONED),
    "leftobject": Detector(EventKind.OBJECT_ABANDONED),
    "removedobject": Detector(EventKind.OBJECT_REMOVED),
    "licenseplate": Detector(EventKind.PLATE_RECOGNIZED, ObjectClass.VEHICLE),
    "plate": Detector(EventKind.PLATE_RECOGNIZED, ObjectClass.VEHICLE),
    "fire": Detector(EventKind.FIRE),
    "flame": Detector(EventKind.FIRE),
    "smoke": Detector(EventKind.FIRE, detail="smoke"),
    "sound": Detector(EventKind.AUDIO_ALARM),
    "audio": Detector(EventKind.AUDIO_ALARM),
    "babycry": Detector(EventKind.AUDIO_ALARM, detail="baby_cry"),
    "fight": Detector(EventKind.FIGHT),
}

# Ways vendors dress a detector's word: ``IsPeople``, ``PeopleDetect``, ``FaceDetector``,
# ``LineCrossAlarm``, ``TPSmartEvent``.
_DRESSING = re.compile(r"^(?:is)?(.*?)(?:detect(?:ion|or)?|alarm|event|alert)?$")


def detector_word(name: str) -> str:
    """``'IsPeople'``, ``'PeopleDetect'``, ``'PeopleDetector'`` → ``'people'``."""
    match = _DRESSING.match(word(name))
    return match.group(1) if match else ""


def detector(name: str) -> Detector | None:
    """What the detector ``name`` detects, if its word is known."""
    return DETECTOR_WORDS.get(detector_word(name))
