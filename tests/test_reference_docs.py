"""The reference docs say what the code does: settings and connector configs are generated from
the models (and checked current), the webhook signature doc's example verifies with the hub's own
signing, and every sharing level is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.delivery import signing
from hub.delivery.receiver import ReceiverState
from tilik.cli import cli
from tilik.docs import DOCS, stale
from topics.models import SharingLevel

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"


def test_generated_reference_docs_are_current() -> None:
    outdated = stale(DOCS_DIR)
    assert not outdated, f"run `tilik docs`: {[str(p) for p in outdated]} differ from the code"


def test_docs_check_fails_on_a_stale_doc_and_docs_rewrites_it(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["docs", "--dir", str(tmp_path)]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DOCS)
    assert runner.invoke(cli, ["docs", "--dir", str(tmp_path), "--check"]).exit_code == 0
    (tmp_path / "settings.md").write_text("# Settings\n\nhand-edited\n")
    result = runner.invoke(cli, ["docs", "--dir", str(tmp_path), "--check"])
    assert result.exit_code == 1 and "out of date" in result.output


def test_every_setting_and_every_connector_config_field_is_in_the_docs() -> None:
    from connectors.sdk.registry import available_connectors
    from core.settings import Settings

    settings = (DOCS_DIR / "settings.md").read_text(encoding="utf-8")
    for variable in Settings.env_names():
        assert f"`{variable}`" in settings
    configs = (DOCS_DIR / "connector-configs.md").read_text(encoding="utf-8")
    for name, info in available_connectors().items():
        if info.builtin:
            assert info.connector_cls is not None
            section = configs.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
            for field in info.connector_cls.config_model.model_fields:
                assert f"| `{field}` |" in section, (name, field)


def test_connectors_describe_prints_any_installed_connectors_fields() -> None:
    result = CliRunner().invoke(cli, ["connectors", "describe", "onvif"])
    assert result.exit_code == 0
    assert "| `subscription_s` | integer | `60` | ≥ 10; ≤ 3600 |" in result.output
    missing = CliRunner().invoke(cli, ["connectors", "describe", "no-such-connector"])
    assert missing.exit_code != 0 and "installed: " in missing.output


# --- webhooks -------------------------------------------------------------------------------

WEBHOOKS = (DOCS_DIR / "webhooks.md").read_text(encoding="utf-8")


def _example(row: str) -> str:
    worked = WEBHOOKS.split("A worked example", 1)[1]
    match = re.search(rf"^\| {re.escape(row)} \| `([^`]*)`", worked, re.MULTILINE)
    assert match, f"the worked example has no {row} row"
    return match[1]


def test_the_webhook_doc_names_the_headers_the_hub_sends() -> None:
    for header in (signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER, signing.IDEMPOTENCY_HEADER):
        assert f"| `{header}` |" in WEBHOOKS
    assert f"`{signing.SCHEME}`" in WEBHOOKS
    assert "300" in WEBHOOKS and ReceiverState(secret=b"x").tolerance_s == 300


def test_the_webhook_docs_worked_example_is_the_hubs_signature() -> None:
    secret, stamp = _example("secret"), _example("`X-Tilik-Timestamp`")
    body, presented = _example("body"), _example("`X-Tilik-Signature`")
    assert signing.signature(secret.encode(), stamp, body.encode()) == presented
    # The receiver's own check accepts it at the moment it was signed.
    signing.verify(secret.encode(), stamp, body.encode(), presented, now=float(stamp))


def test_the_webhook_docs_verifier_accepts_the_example_and_refuses_a_changed_body() -> None:
    code = WEBHOOKS.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)
    verify = namespace["verify"]
    assert callable(verify)
    secret, stamp = _example("secret").encode(), _example("`X-Tilik-Timestamp`")
    body, presented = _example("body").encode(), _example("`X-Tilik-Signature`")
    assert verify(secret, stamp, body, presented, tolerance_s=10**12) is True
    assert verify(secret, stamp, body + b" ", presented, tolerance_s=10**12) is False
    assert verify(secret, stamp, body, presented) is False  # signed in 2026-01-01: outside 300 s


@pytest.mark.parametrize("level", list(SharingLevel))
def test_every_sharing_level_is_documented_for_every_consumer(level: SharingLevel) -> None:
    sharing = (DOCS_DIR / "sharing.md").read_text(encoding="utf-8")
    header = next(line for line in sharing.splitlines() if line.startswith("| consumer |"))
    assert f"`{level.value}`" in header
