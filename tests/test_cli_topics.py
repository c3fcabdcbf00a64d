"""`tilik topics …`, `tilik produce` and `tilik tail` end to end through the real CLI and broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tilik.cli import cli
from topics.admin import apply_catalog
from topics.catalog import DEAD_LETTERS, dispatch_spec
from topics.client import CatalogConsumer
from topics.examples import example
from topics.models import DeadLetter, Dispatch

pytestmark = pytest.mark.kafka


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def agency(kafka_bootstrap: str) -> str:
    """A private dispatch topic (`dispatch.<agency>` resolves to it without a catalog entry)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    apply_catalog([dispatch_spec(name), DEAD_LETTERS], bootstrap=kafka_bootstrap)
    return name


def dead_letters_of(bootstrap: str, topic: str, count: int) -> list[DeadLetter]:
    async def read() -> list[DeadLetter]:
        found: list[DeadLetter] = []
        async with CatalogConsumer(
            DEAD_LETTERS, group_id=None, component="test", bootstrap=bootstrap
        ) as consumer:
            while len(found) < count and (message := await consumer.next(timeout_s=15)):
                assert isinstance(message.value, DeadLetter)
                if message.value.source_topic == topic:
                    found.append(message.value)
        return found

    return asyncio.run(read())


def test_produce_then_tail_round_trip_with_an_invalid_line(
    kafka_bootstrap: str, agency: str, tmp_path: Path
):
    seeds = [uuid.uuid4().hex, uuid.uuid4().hex]
    values = [example(Dispatch, s) for s in seeds]
    lines = [
        values[0].model_dump_json(),
        '{"dispatch_id": "nope", "agency": "x"}',
        "",
        values[1].model_dump_json(),
    ]
    source = tmp_path / "dispatches.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = run(
        "produce", f"dispatch.{agency}", "--file", str(source), "--bootstrap", kafka_bootstrap
    )
    assert code == 1
    assert "sent 2" in out and "invalid 1" in out
    assert "line 2:" in err and "dispatch_id" in err

    code, out, _ = run(
        "tail", "dispatch", "--agency", agency, "--json", "--from-beginning", "--max", "2",
        "--timeout", "15", "--bootstrap", kafka_bootstrap,
    )  # fmt: skip
    assert code == 0
    received = [json.loads(line) for line in out.splitlines()]
    # The two dispatches are keyed by different cameras, so they may sit on different
    # partitions: order across partitions is not defined.
    by_id = {d.dispatch_id: d for d in values}
    got = [Dispatch.model_validate(r["value"]) for r in received]
    assert sorted(d.dispatch_id for d in got) == sorted(by_id)
    assert all(d == by_id[d.dispatch_id] for d in got)
    assert all(r["key"] == by_id[r["value"]["dispatch_id"]].alert.camera_id for r in received)

    [letter] = dead_letters_of(kafka_bootstrap, f"tilik.dispatch.{agency}.v1", 1)
    assert "line 2" in letter.reason
    assert letter.component == "cli.produce"
    assert letter.payload == lines[1]


def test_tail_agency_goes_with_the_dispatch_topic_only() -> None:
    code, _, err = run("tail", "alerts", "--agency", "dishub")
    assert code == 2 and "--agency goes with the topic `dispatch`" in err


def test_raw_produce_is_marked_invalid_by_tail_and_dead_lettered_on_request(
    kafka_bootstrap: str, agency: str, tmp_path: Path
):
    source = tmp_path / "bad.jsonl"
    source.write_text('{"password": "hunter2", "oops": true}\n', encoding="utf-8")
    code, out, _ = run(
        "produce", f"dispatch.{agency}", "--raw", "--key", "k-raw", "--file", str(source),
        "--bootstrap", kafka_bootstrap,
    )  # fmt: skip
    assert code == 0 and "sent 1" in out

    code, out, _ = run(
        "tail", f"dispatch.{agency}", "--from-beginning", "--max", "1", "--timeout", "15",
        "--key", "k-raw", "--bootstrap", kafka_bootstrap,
    )  # fmt: skip
    assert code == 0
    assert "INVALID" in out and "key=k-raw" in out
    assert "hunter2" not in out

    code, out, _ = run(
        "tail", f"dispatch.{agency}", "--from-beginning", "--timeout", "5",
        "--validate-to-dlq", "--group", f"g-{agency}", "--bootstrap", kafka_bootstrap,
    )  # fmt: skip
    assert code == 0 and out == ""
    [letter] = dead_letters_of(kafka_bootstrap, f"tilik.dispatch.{agency}.v1", 1)
    assert letter.key == "k-raw" and letter.component == "cli.tail"


def test_topics_apply_twice_reports_no_changes(kafka_bootstrap: str):
    code, _, _ = run("topics", "apply", "--bootstrap", kafka_bootstrap)
    assert code == 0
    code, out, _ = run("topics", "apply", "--bootstrap", kafka_bootstrap)
    assert code == 0
    assert out.startswith("no changes")


def test_topics_list_shows_broker_state_and_survives_an_unreachable_broker(kafka_bootstrap: str):
    run("topics", "apply", "--bootstrap", kafka_bootstrap)
    code, out, _ = run("topics", "list", "--json", "--bootstrap", kafka_bootstrap)
    assert code == 0
    listing = json.loads(out)
    assert listing["reachable"] is True
    registry = next(t for t in listing["topics"] if t["name"] == "tilik.cameras.registry.v2")
    assert registry["on_broker"] is True and registry["broker_partitions"] == 12

    code, out, _ = run("topics", "list", "--bootstrap", "127.0.0.1:1", "--timeout", "1")
    assert code == 0
    assert "tilik.cameras.registry.v2" in out
    assert "unreachable" in out


def test_topics_docs_writes_schemas_asyncapi_and_the_access_table(tmp_path: Path):
    code, out, _ = run("topics", "docs", "--out", str(tmp_path))
    assert code == 0
    assert (tmp_path / "asyncapi.yaml").exists()
    assert (tmp_path / "CameraRecord.v2.schema.json").exists()
    assert (tmp_path / "SiteConfig.v1.schema.json").exists()
    assert "| `tilik.dispatch.{agency}.v1` |" in (tmp_path / "access.md").read_text()
    # 11 payload schemas, the AsyncAPI document and the access table
    assert len(out.splitlines()) == 13


def test_unknown_topic_is_a_usage_error():
    result = CliRunner().invoke(cli, ["tail", "no-such-topic", "--max", "1"])
    assert result.exit_code == 2
    assert "no topic 'no-such-topic'" in result.output
