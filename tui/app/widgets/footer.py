"""The key footer: Textual's :class:`Footer`, recomposed only when the keys it shows change, without a leak."""

from __future__ import annotations

from collections.abc import Hashable

from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's footer (Textual 8.2.8, which the project pins), with two fixes.

    - The footer recomposes at every focus change, i.e. at every view switch, although the keys it shows stay the
      same: composing and styling 15 new keys took most of a switch's time. It now recomposes only when the
      shown keys changed.
    - Each recompose data-binds the new keys to the footer's ``compact`` reactive, and Textual drops the watchers of
      removed keys only when ``compact`` changes, which it never does here: every recompose kept the old keys
      alive with their styles and caches (about 3 MB per view switch). After a recompose those watchers go.
    """

    _shown: tuple[Hashable, ...] | None = None

    def _keys_to_show(self) -> tuple[Hashable, ...]:
        return tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )

    async def recompose(self) -> None:
        keys = self._keys_to_show() if self._bindings_ready else None
        if keys is not None and keys == self._shown:
            return
        await super().recompose()
        self._shown = keys
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]
