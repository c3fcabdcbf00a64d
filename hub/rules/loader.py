"""Reading ``rules.yaml``: schema, cross-rule checks, and errors as ``FILE:LINE: what is wrong``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hub.rules.model import RuleSet, measure_fits_events, unique_rule_ids
from hub.rules.yamldoc import ConfigError, Document, load_model


class RulesError(ConfigError):
    """The rules document is invalid; ``issues`` carry the file and line of each problem."""


def load_rules(path_or_text: str | Path, *, source: str | None = None) -> RuleSet:
    """Load and validate a ruleset from a path or from YAML text; raise ``RulesError``."""
    document = Document.read(path_or_text, source=source, error=RulesError)
    return load_model(
        document, RuleSet, checks=(unique_rule_ids, measure_fits_events), error=RulesError
    )


def default_rules_text() -> str:
    """The ruleset shipped with Tilik (``hub/defaults/rules.yaml``)."""
    return resources.files("hub.defaults").joinpath("rules.yaml").read_text(encoding="utf-8")


def load_default_rules() -> RuleSet:
    return load_rules(default_rules_text(), source="hub/defaults/rules.yaml")
