"""GcPolicy: frozen garbage is collected once it outgrows the live data, and counted rarely while it does not."""

from __future__ import annotations

import gc

from netwatch.tui.view.gc_policy import MAX_SKIP, GcPolicy


class Cycle:
    """An object in a reference cycle with itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_an_idle_heap_is_counted_rarely_and_growing_garbage_is_collected_in_time() -> None:
    policy = GcPolicy()
    try:
        for _ in range(3 * MAX_SKIP):  # nothing grows: counted about every MAX_SKIP refreshes
            policy.after_refresh()
        assert policy.full_collections == 0 and policy.counts <= 6
        counts_before = policy.counts
        held: list[Cycle] = []
        for _ in range(200):  # 5,000 objects a refresh alive at its freeze, cyclic garbage after the next one
            held = [Cycle() for _ in range(5_000)]
            policy.after_refresh()
            assert gc.get_freeze_count() <= policy.limit + 2 * 5_000 * MAX_SKIP
        assert policy.full_collections >= 2  # ~1 million objects of garbage, a limit of baseline + 100,000
        assert policy.counts - counts_before < 200  # not at every refresh
        del held
    finally:
        gc.unfreeze()
        gc.collect()
