"""netwatch's reusable Textual widgets."""

from netwatch.tui.widgets.socket_table import Column, Row, SocketTable

__all__ = ["Column", "Row", "SocketTable"]
