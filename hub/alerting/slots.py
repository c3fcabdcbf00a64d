"""One rule-state table entry: the engine's state plus what the last few inputs emitted.

Alerts are published without waiting for the broker, and the state is written right after; so
after a crash the state may have reached its changelog while an alert it produced had not. The
entry therefore remembers, per input (event id or timer tick), the alerts it emitted: when that
input is processed again after a restart, the same alerts are published again (same ids and
sequence, hence the same idempotency keys) instead of being judged a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.rules import RuleState
from topics.models import Alert

REMEMBERED_INPUTS = 8


@dataclass
class RuleSlot:
    partition: int
    state: RuleState
    emitted: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, stored: dict[str, Any] | None) -> RuleSlot | None:
        if stored is None:
            return None
        return cls(
            partition=int(stored["p"]),
            state=RuleState.from_json(stored["s"]),
            emitted=dict(stored.get("e") or {}),
        )

    def dump(self) -> dict[str, Any]:
        return {"p": self.partition, "s": self.state.to_json(), "e": self.emitted}

    def replayed(self, cause: str) -> list[Alert] | None:
        """The alerts this input emitted, if it was processed already; None if it is new."""
        if cause not in self.emitted:
            return None
        return [Alert.model_validate_json(text) for text in self.emitted[cause]]


def advance(
    slot: RuleSlot | None, partition: int, cause: str, state: RuleState, alerts: list[Alert]
) -> RuleSlot:
    """The entry after ``cause`` moved the rule to ``state`` emitting ``alerts``."""
    emitted = dict(slot.emitted) if slot is not None else {}
    emitted[cause] = [alert.model_dump_json() for alert in alerts]
    while len(emitted) > REMEMBERED_INPUTS:
        del emitted[next(iter(emitted))]
    return RuleSlot(partition=partition, state=state, emitted=emitted)
