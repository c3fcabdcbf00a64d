"""`tilik topics …`, `tilik produce` and `tilik tail` end to end through the real CLI and broker."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tilik.cli import cli
from topics.admin import apply_catalog
from topics.catalog import DEAD_LETTERS, dispatch_spec, dispatch_topic_name, iter_payload_models
from topics.client import CatalogConsumer, CatalogProducer
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

    [letter] = dead_letters_of(kafka_bootstrap, dispatch_topic_name(agency), 1)
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
    [letter] = dead_letters_of(kafka_bootstrap, dispatch_topic_name(agency), 1)
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
    assert f"| `{dispatch_topic_name('{agency}')}` |" in (tmp_path / "access.md").read_text()
    assert (tmp_path / "ApiKey.v1.schema.json").exists()
    assert (tmp_path / "SealedCredential.v1.schema.json").exists()
    # a schema per payload model, the AsyncAPI document and the access table
    assert len(out.splitlines()) == len(list(iter_payload_models())) + 2 == 17


def test_unknown_topic_is_a_usage_error():
    result = CliRunner().invoke(cli, ["tail", "no-such-topic", "--max", "1"])
    assert result.exit_code == 2
    assert "no topic 'no-such-topic'" in result.output


TILIK = Path(sys.executable).parent / "tilik"


async def produce_dispatches(bootstrap: str, agency: str, count: int) -> list[Dispatch]:
    values = [example(Dispatch, uuid.uuid4().hex) for _ in range(count)]
    async with CatalogProducer(bootstrap, client_id="test-tail") as producer:
        await producer.send_batch(dispatch_spec(agency), values)
    return values


async def tail_while_busy(bootstrap: str, agency: str, *args: str) -> tuple[int, str, float]:
    """Run `tilik tail` on the agency's topic while a producer keeps it busy; (exit code,
    output, seconds it ran). A tail that does not end is killed after a minute."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        TILIK, "tail", f"dispatch.{agency}", "--json", "--bootstrap", bootstrap, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    output = asyncio.create_task(process.communicate())
    async with CatalogProducer(bootstrap, client_id="test-busy") as producer:
        while not output.done() and time.monotonic() - started < 60:
            await producer.send(dispatch_spec(agency), example(Dispatch, uuid.uuid4().hex))
            await asyncio.wait({output}, timeout=0.02)
    if not output.done():
        process.kill()
    stdout, _ = await output
    return process.returncode or 0, stdout.decode(), time.monotonic() - started


def test_tail_timeout_ends_a_busy_topic(kafka_bootstrap: str, agency: str) -> None:
    code, out, seconds = asyncio.run(tail_while_busy(kafka_bootstrap, agency, "--timeout", "4"))
    assert seconds < 30, "tail --timeout kept reading a busy topic"
    assert code == 0
    assert out.splitlines(), "the topic was busy: tail showed what arrived meanwhile"


def test_tail_exit_at_end_reads_what_was_there_and_exits_while_more_arrives(
    kafka_bootstrap: str, agency: str
) -> None:
    before = asyncio.run(produce_dispatches(kafka_bootstrap, agency, 5))
    code, out, seconds = asyncio.run(
        tail_while_busy(kafka_bootstrap, agency, "--from-beginning", "--exit-at-end")
    )
    assert seconds < 30, "tail -e never reached the end of a busy topic"
    assert code == 0
    shown = {json.loads(line)["value"]["dispatch_id"] for line in out.splitlines()}
    assert {d.dispatch_id for d in before} <= shown


def test_tail_exit_at_end_of_a_quiet_topic_shows_each_message_once(
    kafka_bootstrap: str, agency: str
) -> None:
    before = asyncio.run(produce_dispatches(kafka_bootstrap, agency, 5))
    code, out, _ = run(
        "tail", f"dispatch.{agency}", "--json", "--from-beginning", "-e",
        "--bootstrap", kafka_bootstrap,
    )  # fmt: skip
    assert code == 0
    shown = sorted(json.loads(line)["value"]["dispatch_id"] for line in out.splitlines())
    assert shown == sorted(d.dispatch_id for d in before)
    # From the latest offset, the end is where it starts: nothing to show, exit 0 at once.
    code, out, _ = run("tail", f"dispatch.{agency}", "-e", "--bootstrap", kafka_bootstrap)
    assert (code, out) == (0, "")
