"""netwatch's reusable Textual widgets."""

from netwatch.tui.app.widgets.socket_table import SocketTable

__all__ = ["SocketTable"]
