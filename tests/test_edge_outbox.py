"""The edge outbox on disk, without a broker: records survive a restart in order, a torn last
record is skipped, the size bound drops the oldest and says so, one agent per directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connectors.edge.agent import EdgeAgent
from connectors.edge.cli import edge
from connectors.edge.outbox import OutboxConfig
from connectors.edge.site import SiteFile
from connectors.edge.spool import Pending, Spool, SpoolError
from core.settings import Settings
from topics.catalog import tenant_topics
from topics.models import CameraStatus

TOPICS = tenant_topics("toko-sinar")


def record(i: int, topic: str = TOPICS.status.name, size: int = 10) -> Pending:
    return Pending(topic, f"key-{i % 3}".encode(), f"{i:08d}".encode() + b"x" * size, [("h", b"v")])


def drain(spool: Spool, batch: int = 7) -> list[Pending]:
    """Everything waiting, acknowledged batch by batch as a sender does."""
    out: list[Pending] = []
    while head := spool.head(batch):
        out.extend(head)
        spool.acknowledge(len(head))
    return out


def test_records_waiting_survive_a_restart_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox", 1024 * 1024)
    sent = [record(i) for i in range(100)]
    for pending in sent:
        spool.append(pending)
    # A batch read and acknowledged, one read and not acknowledged: the second is sent again.
    spool.acknowledge(len(spool.head(30)))
    assert len(spool.head(20)) == 20
    spool.close()

    again = Spool(tmp_path / "outbox", 1024 * 1024)
    assert again.waiting == 70
    assert again.waiting_by_topic() == {TOPICS.status.name: 70}
    more = [record(i) for i in range(100, 120)]
    for pending in more:
        again.append(pending)
    assert drain(again) == sent[30:] + more
    again.close()
    # Nothing waits once all is acknowledged, and acknowledged segments are gone.
    third = Spool(tmp_path / "outbox", 1024 * 1024)
    assert third.waiting == 0 and third.head(10) == []
    assert len(list((tmp_path / "outbox").glob("*.seg"))) == 1
    third.close()


def test_the_head_in_memory_is_one_batch_whatever_waits_on_disk(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox", 4 * 1024 * 1024)
    for i in range(5000):
        spool.append(record(i, size=200))
    assert len(spool.head(500)) == 500
    assert len(spool._head) == 500  # the rest is only counted
    assert spool.waiting == 5000 and spool.disk_bytes > 1_000_000
    spool.close()


def test_a_torn_last_record_is_skipped_and_the_rest_is_kept(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    spool = Spool(directory, 1024 * 1024)
    written = [record(i) for i in range(10)]
    for pending in written:
        spool.append(pending)
    spool.close()
    segment = sorted(directory.glob("*.seg"))[-1]
    whole = segment.read_bytes()
    # A crash in the middle of the last write: its frame is cut short.
    segment.write_bytes(whole[:-5])
    torn = Spool(directory, 1024 * 1024)
    assert torn.waiting == 9 and torn.damaged_bytes > 0
    torn.append(record(10))
    assert drain(torn) == [*written[:9], record(10)]
    torn.close()


def test_a_record_failing_its_checksum_ends_its_segment(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    spool = Spool(directory, 1024 * 1024)
    for i in range(10):
        spool.append(record(i))
    spool.close()
    segment = sorted(directory.glob("*.seg"))[-1]
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # a flipped byte in the last record's body
    segment.write_bytes(bytes(data))
    damaged = Spool(directory, 1024 * 1024)
    assert [p.value for p in drain(damaged)] == [record(i).value for i in range(9)]
    damaged.close()


def test_the_disk_bound_drops_the_oldest_records_and_counts_them_per_topic(tmp_path: Path) -> None:
    max_bytes = 1024 * 1024
    spool = Spool(tmp_path / "outbox", max_bytes)
    topics = [TOPICS.status.name, TOPICS.events.name]
    total = 6000
    for i in range(total):
        spool.append(record(i, topic=topics[i % 2], size=300))
    assert spool.disk_bytes <= max_bytes
    dropped = sum(spool.dropped.values())
    assert dropped > 0 and set(spool.dropped) == set(topics)
    assert spool.waiting == total - dropped
    kept = drain(spool, batch=500)
    # The newest are kept, in order; the oldest went.
    assert [p.value for p in kept] == [record(i, size=300).value for i in range(dropped, total)]
    spool.close()


def test_a_second_agent_may_not_use_the_same_outbox_and_others_may_not_read_it(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "outbox", 1024 * 1024)
    spool.append(record(1))
    assert (tmp_path / "outbox").stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in (tmp_path / "outbox").glob("*.seg"))
    with pytest.raises(SpoolError, match="another edge agent"):
        Spool(tmp_path / "outbox", 1024 * 1024)
    spool.close()
    Spool(tmp_path / "outbox", 1024 * 1024).close()


def test_a_full_outbox_drops_the_oldest_records_and_the_agent_says_so(tmp_path: Path) -> None:
    site_path = tmp_path / "site.yaml"
    site_path.write_text(
        yaml.safe_dump(
            {
                "tenant": "toko-sinar",
                "site": "jalan-pemuda",
                "outbox": {"max_bytes": 1024 * 1024},
                "devices": [{"connector": "hikvision", "address": "127.0.0.1:80"}],
            }
        )
    )
    site = SiteFile.load(site_path)
    assert site.outbox_dir == tmp_path / "jalan-pemuda.outbox"
    said: list[str] = []
    agent = EdgeAgent(site, settings=Settings(), say=said.append)
    spec = TOPICS.status
    for i in range(10_000):
        agent.outbox.put(
            spec,
            CameraStatus(camera_id=f"cam-{i:020x}", state="online", checked_at=datetime.now(UTC)),
        )
    dropped = agent.outbox.dropped[spec.name]
    assert dropped > 0 and agent.outbox.waiting == 10_000 - dropped
    agent.report()
    assert f"DROPPED (outbox full): {dropped} on {spec.name}" in said[-1]
    agent.outbox.close()


def test_the_outbox_config_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="max_records"):
        OutboxConfig.model_validate({"max_records": 10})


def test_tilik_edge_run_refuses_an_outbox_another_agent_holds(tmp_path: Path) -> None:
    site_path = tmp_path / "site.yaml"
    site_path.write_text(
        yaml.safe_dump(
            {
                "tenant": "toko-sinar",
                "site": "jalan-pemuda",
                "devices": [{"connector": "hikvision", "address": "127.0.0.1:80"}],
            }
        )
    )
    held = Spool(tmp_path / "jalan-pemuda.outbox", 1024 * 1024)
    try:
        result = CliRunner().invoke(edge, ["run", "--config", str(site_path)])
    finally:
        held.close()
    assert result.exit_code == 1
    assert "another edge agent uses this outbox" in result.output
