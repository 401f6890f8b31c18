"""GcPolicy: frozen garbage is collected once it outgrows the live data, and counted rarely while it does not."""

from __future__ import annotations

import gc

from netwatch.tui.view.gc_policy import FREEZE_FROM, MAX_SKIP, THAW_BELOW, GcPolicy


class Cycle:
    """An object in a reference cycle with itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_an_idle_heap_is_counted_rarely_and_growing_garbage_is_collected_in_time() -> None:
    policy = GcPolicy()
    try:
        for _ in range(3 * MAX_SKIP):  # nothing grows: counted about every MAX_SKIP refreshes
            policy.after_refresh(FREEZE_FROM)
        assert policy.full_collections == 0 and policy.counts <= 6
        counts_before = policy.counts
        held: list[Cycle] = []
        for _ in range(200):  # 5,000 objects a refresh alive at its freeze, cyclic garbage after the next one
            held = [Cycle() for _ in range(5_000)]
            policy.after_refresh(FREEZE_FROM)
            assert gc.get_freeze_count() <= policy.limit + 2 * 5_000 * MAX_SKIP
        assert policy.full_collections >= 2  # ~1 million objects of garbage, a limit of baseline + 100,000
        assert policy.counts - counts_before < 200  # not at every refresh
        del held
    finally:
        gc.unfreeze()
        gc.collect()


def test_a_small_host_is_left_to_pythons_collector_and_a_large_one_frozen_until_it_shrinks() -> None:
    """Below FREEZE_FROM sockets nothing is frozen or counted; from there on the survivors of each refresh are frozen,
    the first ones counted as the baseline; below THAW_BELOW everything is thawed, and stays so."""
    gc.unfreeze()  # what other tests may have left
    policy = GcPolicy()
    try:
        for _ in range(3):
            policy.after_refresh(FREEZE_FROM - 1)
        assert gc.get_freeze_count() == 0 and policy.counts == 0 and not policy.freezing
        policy.after_refresh(FREEZE_FROM)
        assert policy.freezing and gc.get_freeze_count() > 0 and policy.counts == 1
        assert policy.baseline == gc.get_freeze_count()
        policy.after_refresh(THAW_BELOW)  # between the two: still freezing
        assert policy.freezing
        policy.after_refresh(THAW_BELOW - 1)
        assert not policy.freezing and gc.get_freeze_count() == 0
        counts = policy.counts
        policy.after_refresh(FREEZE_FROM - 1)
        assert gc.get_freeze_count() == 0 and policy.counts == counts
        policy.after_refresh(FREEZE_FROM)  # freezing again: a new baseline
        assert policy.freezing and policy.counts == counts + 1 and policy.baseline == gc.get_freeze_count()
    finally:
        gc.unfreeze()
