"""The operator's commands tell the truth: a misspelt agency or kecamatan is an error listing the
valid names (never an empty table and exit 0), and repeated dead letters are one row with a count."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from click.testing import CliRunner
from conftest import Principals

from hub.operator import group_letters
from tilik.cli import cli
from topics.catalog import DEAD_LETTERS
from topics.client import CatalogProducer
from topics.deadletters import make_dead_letter
from topics.models import DeadLetter, DeadLetterKind
from topics.names import UnknownName, known_name
from topics.reader import Received


def test_a_known_name_matches_without_case_and_an_unknown_one_lists_the_valid_names() -> None:
    assert known_name("TEMBALANG", ["Tembalang", "Tugu"], what="kecamatan") == "Tembalang"
    with pytest.raises(UnknownName) as unknown:
        known_name("Tembalng", ["Tembalang", "Tugu", "Gayamsari"], what="kecamatan")
    message = str(unknown.value)
    assert "Did you mean 'Tembalang'?" in message
    assert "Known: Gayamsari, Tembalang, Tugu." in message
    with pytest.raises(UnknownName, match="Known: none yet"):
        known_name("x", [], what="agency")


def _letter(reason: str, n: int) -> tuple[Received, DeadLetter]:
    letter = make_dead_letter(
        kind=DeadLetterKind.DEVICE_INPUT,
        reason=reason,
        component="connector.hikvision",
        payload=f"payload {n}",
        source_topic="tilik.events.device.v2",
    )
    return Received(DEAD_LETTERS, None, letter, 0, n, letter.failed_at), letter


def test_repeats_of_one_cause_are_one_group_with_their_count_newest_first() -> None:
    found = [_letter("no mapping for event type 'fooDetection'", n) for n in range(20)]
    found.append(_letter("no mapping for event type 'barDetection'", 20))
    groups = group_letters(found)
    assert [g.count for g in groups] == [1, 20]  # the newest cause first
    assert groups[1].ref == "0-19" and groups[1].refs[-1] == "0-0"


@pytest.mark.kafka
def test_an_unknown_agency_or_kecamatan_is_an_error_listing_the_valid_names(
    kafka_principals: Principals,
) -> None:
    runner = CliRunner()
    wrong_agency = runner.invoke(cli, ["alerts", "--agency", "polisii"])
    assert wrong_agency.exit_code == 2, wrong_agency.output
    # Other close names (agencies other tests made) may be suggested too.
    assert "Did you mean 'polisi'" in wrong_agency.output, wrong_agency.output
    assert "dishub" in wrong_agency.output

    wrong_area = runner.invoke(cli, ["alerts", "--kecamatan", "Atlantis"])
    assert wrong_area.exit_code == 2, wrong_area.output
    assert "no kecamatan is named 'Atlantis'" in wrong_area.output, wrong_area.output

    tail = runner.invoke(cli, ["tail", "dispatch", "--agency", "dishubb", "-e"])
    assert tail.exit_code == 2, tail.output
    assert "Did you mean 'dishub'" in tail.output, tail.output
    # A real agency in another case: the valid name is the lower-case one.
    upper = runner.invoke(cli, ["tail", "dispatch.DISHUB", "-e"])
    assert upper.exit_code == 2 and "'dishub'" in upper.output, upper.output


@pytest.mark.kafka
def test_dlq_list_folds_repeats_of_one_cause_into_one_row_with_a_count(
    kafka_principals: Principals,
) -> None:
    cause = f"no mapping for event type 'flood{uuid.uuid4().hex[:6]}'"

    async def produce() -> None:
        async with CatalogProducer() as producer:
            for n in range(25):
                _, letter = _letter(cause, n)
                await producer.send(DEAD_LETTERS, letter)

    asyncio.run(produce())
    grouped = CliRunner().invoke(cli, ["dlq", "list", "--kind", "device_input", "--max", "500"])
    assert grouped.exit_code == 0, grouped.output
    rows = [line for line in grouped.output.splitlines() if cause in line]
    assert len(rows) == 1 and " 25 device_input" in rows[0], grouped.output
    each = CliRunner().invoke(
        cli, ["dlq", "list", "--kind", "device_input", "--each", "--max", "5000"]
    )
    assert sum(cause in line for line in each.output.splitlines()) == 25
