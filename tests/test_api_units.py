"""The pure parts of ``tilik api``: key secrets, the rate limiter, inbox paging and filtering,
public features."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.cameras import PlacedCamera, feature, view_url
from api.inbox import BadCursor, InboxEntry, InboxFilter, InboxStatus, Newest, page
from api.ratelimit import RateLimiter
from api.secrets import MalformedKey, hash_key, key_id_of, new_key, verify_key
from topics.examples import example
from topics.models import AlertCategory, CameraRecord, Dispatch, SharingLevel


def test_a_key_verifies_against_its_own_hash_only_and_names_its_id() -> None:
    key, other = new_key(), new_key()
    stored = hash_key(key.token)
    assert verify_key(key.token, stored) and not verify_key(other.token, stored)
    assert key.token not in stored and key.token not in repr(key)
    assert key_id_of(key.token) == key.key_id
    assert hash_key(key.token) != stored  # salted afresh
    rotated = new_key(key.key_id)
    assert rotated.key_id == key.key_id and rotated.token != key.token
    for broken in ("", "tk_xyz", "Bearer " + key.token, key.token + "x"):
        with pytest.raises(MalformedKey) as refused:
            key_id_of(broken)
        assert broken not in str(refused.value) or broken == ""
    assert not verify_key(key.token, "argon2$whatever") and not verify_key(key.token, "scrypt$1$2")


def test_the_rate_limiter_allows_a_burst_then_refills_per_client() -> None:
    now = [0.0]
    limiter = RateLimiter(3, per_s=60.0, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(20.0)
    assert limiter.take("b") == 0.0  # another client has its own bucket
    now[0] = 20.0
    assert limiter.peek("a") == 0.0 and limiter.peek("a") == 0.0  # looking spends nothing
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0


def entry(seed: str, status: InboxStatus, **alert: object) -> InboxEntry:
    dispatch = example(Dispatch, seed)
    return InboxEntry(
        status=status,
        dispatch=dispatch.model_copy(update={"alert": dispatch.alert.model_copy(update=alert)}),
    )


def test_inbox_pages_are_newest_first_without_repeats_and_a_foreign_cursor_is_refused() -> None:
    entries = {
        e.dispatch.alert.alert_id: e for e in (entry(str(n), InboxStatus.OPEN) for n in range(7))
    }
    newest = Newest()
    for alert_id, e in entries.items():
        newest.put(alert_id, e.dispatch)
    # An alert dispatched again moves to its newest dispatch's place, once.
    moved = next(iter(entries))
    later = entries[moved].dispatch.routed_at + timedelta(days=1)
    entries[moved] = entries[moved].model_copy(
        update={"dispatch": entries[moved].dispatch.model_copy(update={"routed_at": later})}
    )
    newest.put(moved, entries[moved].dispatch)

    def listed(where: InboxFilter, limit: int) -> list[InboxEntry]:
        seen: list[InboxEntry] = []
        cursor = None
        while True:
            chosen, cursor = page(newest, entries.__getitem__, where, limit=limit, after=cursor)
            seen += chosen
            if cursor is None:
                return seen

    expected = sorted(entries.values(), key=lambda e: e.dispatch.routed_at, reverse=True)
    for limit in (1, 3, 7, 50):
        assert [e.dispatch.dispatch_id for e in listed(InboxFilter(), limit)] == [
            e.dispatch.dispatch_id for e in expected
        ]
    assert listed(InboxFilter(status=InboxStatus.RESOLVED), 3) == []
    with pytest.raises(BadCursor):
        page(newest, entries.__getitem__, InboxFilter(), limit=3, after="not-a-cursor")


def test_inbox_filters_by_status_category_and_kecamatan_in_any_case() -> None:
    flood = entry("f", InboxStatus.ACKNOWLEDGED, category=AlertCategory.FLOOD)
    crowd = entry("c", InboxStatus.OPEN)
    kecamatan = crowd.dispatch.alert.location.area.kecamatan
    assert kecamatan is not None
    assert InboxFilter(status=InboxStatus.OPEN).admits(crowd)
    assert not InboxFilter(status=InboxStatus.OPEN).admits(flood)
    assert InboxFilter(category=AlertCategory.FLOOD).admits(flood)
    assert InboxFilter(kecamatan=kecamatan.swapcase()).admits(crowd)
    assert not InboxFilter(kecamatan="Nowhere").admits(crowd)
    assert not InboxFilter(since=crowd.dispatch.routed_at.replace(year=2200)).admits(crowd)


def test_a_public_feature_carries_only_what_citizens_may_see() -> None:
    record = example(CameraRecord, "x").model_copy(update={"sharing": SharingLevel.PUBLIC})
    found = feature(PlacedCamera.of(record), "online", "https://gw.example/{camera_id}/live")
    assert found["properties"]["view_url"] == f"https://gw.example/{record.camera_id}/live"
    text = str(found)
    for private in (record.address, record.owner.id, record.device_id, record.credential_ref):
        assert private is None or private not in text
    assert view_url(None, record.camera_id) is None
