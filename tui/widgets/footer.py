"""The key footer: Textual's :class:`Footer` without its per-recompose leak."""

from __future__ import annotations

from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's footer, minus a leak (Textual 8.2.8, which the project pins).

    The footer recomposes at every focus or binding change, and data-binds each new key to its ``compact``
    reactive. Textual drops the watchers of removed keys only when ``compact`` changes, which it never does here,
    so every view switch kept the old keys alive with their styles and caches (about 3 MB per switch). After each
    recompose the watchers of keys no longer in the footer are dropped.
    """

    async def recompose(self) -> None:
        await super().recompose()
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]
