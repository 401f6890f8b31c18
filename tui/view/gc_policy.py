"""Keep Python's cyclic garbage collector from stalling the UI at 100,000 sockets, with memory bounded.

A refresh creates millions of long-lived objects (socket records, history). A full collection walks all of them
and, measured here at 100,000 sockets, stops every thread for up to 1.1 s: the UI freezes. Snapshots contain no
reference cycles, so once a snapshot is taken every object alive is moved to the permanent generation
(``gc.freeze``): collections no longer walk them, and reference counting still frees them when a later refresh
drops them.

The price: whatever else is alive at that moment is frozen too, and the UI (Textual's caches, styles, strips)
keeps making objects that die later in reference cycles. Frozen, they are never freed: measured with a few
hundred sockets refreshed twice a second, 1.6 million such objects (250 MB) in 90 s. So :class:`GcPolicy`
counts the frozen objects after each freeze and, once they exceed what survived the last full collection by
:data:`GROWTH`, releases them and collects everything once. Memory then stays within a fixed factor of the live
data, whatever the uptime (tests/test_soak.py: RSS +0.5-3.5% in the runs measured, from the second full collection to
refresh 300, with churn and view switches; the first limit, set by the first refresh's live data, is lower). A
full collection costs ~10 ms with a few hundred sockets (one every ~8 refreshes there) and up to about a second at
100,000 sockets, where the budget lasts minutes.

Counting the frozen objects walks them, one cache miss each: 10-13 ms for the ~80,000 objects of an idle TUI,
measured, which was half the CPU netwatch spent on an idle host. So they are counted only as often as the growth
seen between the last two counts could use up the headroom left below the limit at twice that pace (at most
every :data:`MAX_SKIP` refreshes): on an idle host about every minute, near the limit at every refresh. The first
refresh's survivors are live data: they are counted as the baseline, not collected (that would delay the first
table).

Below :data:`FREEZE_FROM` sockets none of this runs: Python's own generational collection frees the UI's garbage
while it is young, and a full collection of the small heap takes ~10 ms. The freezes, the counts and the frozen
garbage had cost an idle TUI about a sixth of its CPU (0.335% against 0.273% of a core, the two builds side by side
for 90 s). The policy starts freezing once a snapshot has that many sockets, and thaws everything once they fall
below half of it.
"""

from __future__ import annotations

import gc

GROWTH = 0.25
"""Frozen objects may exceed the survivors of the last full collection by this fraction of them..."""
SLACK = 100_000
"""...plus this many objects (so that a small host is not collected at every refresh)."""
MAX_SKIP = 30
"""Refreshes between two counts of the frozen objects, at most."""
MIN_GROWTH = SLACK / (2 * MAX_SKIP)
"""Frozen objects per refresh assumed at least (a growth measured over few refreshes may read 0 or less while
garbage piles up): an idle host is still counted only every MAX_SKIP refreshes."""
FREEZE_FROM = 5_000
"""Sockets from which the policy freezes (a full collection then walks ~100,000 objects and more)."""
THAW_BELOW = FREEZE_FROM // 2
"""Sockets below which a freezing policy thaws everything and stops (apart from FREEZE_FROM: a host hovering
around it does not switch at every refresh)."""


class GcPolicy:
    """Freezes the survivors of each refresh (of a snapshot of :data:`FREEZE_FROM` sockets or more) and collects the
    frozen garbage when it grows too large."""

    def __init__(self) -> None:
        self.full_collections = 0
        self.counts = 0
        """How often the frozen objects were counted."""
        self.freezing = False
        """Whether the last refresh froze (it had :data:`FREEZE_FROM` sockets or more, or not fewer than
        :data:`THAW_BELOW` since)."""
        self._restart()

    def _restart(self) -> None:
        """Start as on the first refresh, which freezes and counts its survivors as the baseline."""
        self.baseline = 0
        """Frozen objects right after the last full collection (the live data then)."""
        self._refreshes = 0
        self._next_count = 0
        self._last_count = 0
        self._last_counted_at = 0
        self._collected_at = 1
        """The refresh of the last full collection (the first refresh sets the first baseline)."""

    @property
    def limit(self) -> int:
        """Frozen objects above which the next :meth:`after_refresh` collects everything."""
        return int(self.baseline * (1 + GROWTH)) + SLACK

    def after_refresh(self, sockets: int) -> None:
        """Call once per refresh, off the UI thread, after the snapshot (of ``sockets`` sockets) and its frame are
        built."""
        if not self.freezing and sockets < FREEZE_FROM:
            return
        if self.freezing and sockets < THAW_BELOW:
            gc.unfreeze()  # Python's own collection takes over; what is garbage goes with its next full one
            self.freezing = False
            self._restart()
            return
        self.freezing = True
        gc.freeze()
        self._refreshes += 1
        if self._refreshes < self._next_count:
            return
        frozen = self._count()
        if self._refreshes == 1:  # what survives the first refresh is live data: the baseline, without collecting
            self.baseline = frozen  # (a full collection now would delay the first table ~1 s)
        elif frozen > self.limit:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.baseline = frozen = self._count()
            self.full_collections += 1
            self._collected_at = self._refreshes
            self._schedule(frozen, growth=None)
            return
        recent = (frozen - self._last_count) / max(1, self._refreshes - self._last_counted_at)
        overall = (frozen - self.baseline) / max(1, self._refreshes - self._collected_at)
        self._schedule(frozen, max(recent, overall) if self._refreshes > 1 else None)

    def _count(self) -> int:
        self.counts += 1
        return gc.get_freeze_count()

    def _schedule(self, frozen: int, growth: float | None) -> None:
        """Count again once the frozen objects could reach the limit growing at twice ``growth`` (at least
        :data:`MIN_GROWTH`) per refresh; None: not known yet, at the next refresh."""
        skip = 1 if growth is None else int((self.limit - frozen) / (2 * max(growth, MIN_GROWTH)))
        self._next_count = self._refreshes + max(1, min(MAX_SKIP, skip))
        self._last_count, self._last_counted_at = frozen, self._refreshes
