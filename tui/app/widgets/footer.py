"""The key footer: Textual's :class:`Footer`, recomposed only when the keys it shows change, without a leak."""

from __future__ import annotations

from collections.abc import Hashable

from textual import events
from textual.dom import NoScreen
from textual.widgets import Footer

COMPACT_BELOW = 120
"""Terminal widths below which the keys are shown without padding and the command palette key is left out (it
still works; the help lists every key), so that 80 columns show every key."""


class KeyFooter(Footer):
    """Textual's footer (Textual 8.2.8, which the project pins), compact on a narrow terminal, with two fixes.

    - The footer recomposes at every focus change, i.e. at every view switch, although the keys it shows stay the
      same: composing and styling 15 new keys took most of a switch's time. It now recomposes only when the
      shown keys changed.
    - Each recompose data-binds the new keys to the footer's ``compact`` reactive, and Textual drops the watchers of
      removed keys only when ``compact`` changes, which it never does here: every recompose kept the old keys
      alive with their styles and caches (about 3 MB per view switch). After a recompose those watchers go.
    """

    _shown: tuple[Hashable, ...] | None = None

    def on_resize(self, event: events.Resize) -> None:
        if self.is_attached:
            narrow = event.size.width < COMPACT_BELOW
            self.compact = narrow
            self.show_command_palette = not narrow

    def _keys_to_show(self) -> tuple[Hashable, ...]:
        return tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )

    async def recompose(self) -> None:
        try:
            keys = self._keys_to_show() if self._bindings_ready else None
        except NoScreen:  # a resize's recompose that ran after its screen was dismissed
            return
        if keys is not None and keys == self._shown:
            return
        await super().recompose()
        self._shown = keys
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]
