"""Rules as data: device events and camera health in, alert lifecycles out. Pure, no clock, no I/O.

How the hub uses it::

    from hub.rules import RuleEngine, RuleState, load_rules

    engine = RuleEngine(load_rules("config/rules.yaml"))       # RulesError: FILE:LINE: what is wrong

    # device events (state table keyed by (camera_id, rule_id); absent key -> None)
    for rule in engine.rules_for(event, camera):                # camera: CameraRecord | None
        state, alerts = engine.apply(rule, event, camera, table.get(key), now)
        table[key] = state.to_json()                            # or drop it when state.idle
        publish(alerts)                                         # Alert: opened / updated / resolved

    # a timer, every few seconds, over the keys whose state needs it (engine.needs_tick(state))
    rule = engine.rule(rule_id)
    state, alerts = engine.tick(rule, camera_id, state, camera, now)
    # rule is None (removed from the file): resolve its open alert, then drop the state
    alerts = RuleEngine.retire(rule_id, camera_id, state, camera, now)

    # camera health: built-in ``offline`` rules, fed with CameraStatus and driven by tick
    for rule in engine.offline_rules(camera):
        state, alerts = engine.apply_status(rule, status, camera, state, now)

Guarantees: at most one open alert per (camera, rule); its id is
``identity.alert_id(camera_id, rule_id, opened_at)`` with ``opened_at`` taken from event time, so a
replay gives the same ids; ``sequence`` is 0 when opened and +1 on each later state; updates are
rate-limited (``update_every_s``); an alert resolves when its condition ends or after
``resolve_after_s`` without support; after a resolve, ``cooldown_s`` passes before a new one opens.
Event time is the device's clock unless it is more than ``clock_skew_max_s`` off the hub's receive
time. Schedules are evaluated in the ruleset's time zone (default Asia/Jakarta). State stays
bounded: windows are fixed buckets, dwell tracking is capped, event ids are capped.
"""

from hub.rules.engine import RuleEngine
from hub.rules.loader import RulesError, default_rules_text, load_default_rules, load_rules
from hub.rules.model import (
    DwellRule,
    EventRule,
    InstantRule,
    OfflineRule,
    Rule,
    RuleKind,
    RuleSet,
    ThresholdRule,
    WindowRule,
)
from hub.rules.state import RuleState

__all__ = [
    "DwellRule",
    "EventRule",
    "InstantRule",
    "OfflineRule",
    "Rule",
    "RuleEngine",
    "RuleKind",
    "RuleSet",
    "RuleState",
    "RulesError",
    "ThresholdRule",
    "WindowRule",
    "default_rules_text",
    "load_default_rules",
    "load_rules",
]
