"""Loading rules.yaml: the defaults validate, and every mistake is reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.rules import RuleKind, RulesError, default_rules_text, load_default_rules, load_rules

REPO = Path(__file__).resolve().parent.parent

GOOD = """\
version: 1
rules:
  - id: tamper
    kind: instant
    category: tamper
    title: Tamper
    events: [tamper]
"""


def issues(text: str, source: str = "rules.yaml") -> list[str]:
    with pytest.raises(RulesError) as caught:
        load_rules(text, source=source)
    return [str(issue) for issue in caught.value.issues]


def test_default_ruleset_validates_and_covers_every_kind():
    ruleset = load_default_rules()
    assert {rule.kind for rule in ruleset.rules} == set(RuleKind)
    assert ruleset.timezone == "Asia/Jakarta"


def test_repository_config_is_the_shipped_default():
    assert (REPO / "config" / "rules.yaml").read_text(encoding="utf-8") == default_rules_text()
    assert len(load_rules(REPO / "config" / "rules.yaml").rules) == len(load_default_rules().rules)


def test_unknown_key_names_its_line():
    text = GOOD + "    colour: red\n"
    assert issues(text) == ["rules.yaml:8: rules.0.colour: Extra inputs are not permitted"]


def test_wrong_type_names_its_line():
    text = GOOD.replace("title: Tamper", "title: Tamper\n    severity: catastrophic")
    [issue] = issues(text)
    assert issue.startswith("rules.yaml:7: rules.0.severity: Input should be")


def test_missing_field_names_the_rule():
    text = GOOD.replace("    title: Tamper\n", "")
    assert issues(text) == ["rules.yaml:3: rules.0.title: Field required"]


def test_unknown_kind_is_reported():
    assert issues(GOOD.replace("kind: instant", "kind: sometimes")) == [
        "rules.yaml:4: rules.0.kind: unknown kind 'sometimes', "
        "expected one of 'threshold', 'window', 'dwell', 'instant', 'offline'"
    ]


def test_every_problem_is_reported_at_once():
    text = GOOD + GOOD.split("rules:\n")[1].replace("events: [tamper]", "events: []")
    text = text.replace("category: tamper", "category: weather", 1)
    found = issues(text)
    assert [issue.split(":")[1] for issue in found] == ["5", "12"]


def test_duplicate_rule_id():
    text = GOOD + GOOD.split("rules:\n")[1]
    assert issues(text) == [
        "rules.yaml:8: rules.1.id: duplicate rule id 'tamper' (first at rules.0)"
    ]


def test_duplicate_key_is_an_error_not_a_silent_override():
    text = GOOD.replace("title: Tamper", "title: Tamper\n    title: Other")
    assert issues(text) == ["rules.yaml:7: duplicate key 'title'"]


def test_yaml_syntax_error_names_its_line():
    text = GOOD.replace("events: [tamper]", "events: [tamper")
    [issue] = issues(text)
    assert issue.startswith("rules.yaml:8: invalid YAML")


def test_bad_time_range():
    text = GOOD + "    schedule: {times: ['22:00-5']}\n"
    [issue] = issues(text)
    assert issue.startswith("rules.yaml:8: rules.0.schedule.times.0")
    assert "22:00-05:00" in issue


def test_unknown_time_zone():
    [issue] = issues("timezone: Asia/Semarang\n" + GOOD)
    assert issue.startswith("rules.yaml:1: timezone:") and "unknown time zone" in issue


def test_measure_must_fit_the_events():
    text = """\
version: 1
rules:
  - id: crowd
    kind: threshold
    category: crowd
    title: Crowd
    events: [flood_level]
    measure: count
    threshold: 10
"""
    assert issues(text) == [
        "rules.yaml:7: rules.0.events: events flood_level do not carry measure count"
    ]


def test_hysteresis_on_the_wrong_side():
    text = """\
version: 1
rules:
  - id: crowd
    kind: threshold
    category: crowd
    title: Crowd
    events: [people_count]
    measure: count
    threshold: 10
    clear_at: 20
"""
    [issue] = issues(text)
    assert issue.startswith("rules.yaml:3: rules.0: Value error, clear_at")


def test_aliases_are_refused():
    text = GOOD.replace("events: [tamper]", "events: &e [tamper]") + "    filter: {details: *e}\n"
    assert issues(text) == ["rules.yaml:8: YAML aliases (*name) are not supported"]


def test_empty_document():
    assert issues("# nothing here\n") == ["rules.yaml:1: document is empty"]


def test_not_a_mapping():
    [issue] = issues("- a\n- b\n")
    assert issue.startswith("rules.yaml:1:") and "RuleSet" in issue


def test_file_errors_name_the_path(tmp_path):
    path = tmp_path / "city-rules.yaml"
    path.write_text(GOOD + "    colour: red\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value) == f"{path}:8: rules.0.colour: Extra inputs are not permitted"


def test_missing_file():
    with pytest.raises(RulesError, match="cannot read file"):
        load_rules(Path("/nonexistent/rules.yaml"))
