"""The collector settings a run of many devices' exchanges uses (core.collector)."""

from __future__ import annotations

import gc

from core.collector import GC_GEN0_THRESHOLD, fewer_collections


def test_young_collections_are_rarer_inside_the_block_and_as_before_after_it() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] >= GC_GEN0_THRESHOLD
    assert gc.get_threshold() == before


def test_overlapping_blocks_restore_the_thresholds_only_when_the_last_one_ends() -> None:
    before = gc.get_threshold()
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] >= GC_GEN0_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
