"""The view tabs: a :class:`TabbedContent` whose active tab follows keys and clicks only."""

from __future__ import annotations

from textual.widgets import TabbedContent, TabPane


class ViewTabs(TabbedContent):
    """Textual's TabbedContent also activates the pane of a newly focused widget, when the focus message arrives.

    The app focuses the active view's table at each switch; in a burst of view keys, the focus message of one
    switch arrived after the next switch and switched the tabs back, which focused the other table, and so on: the
    app kept switching views by itself. Here only keys and clicks switch (a hidden pane's widgets cannot take the
    focus anyway).
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()  # Textual runs the handlers of every class in the MRO unless told not to
