"""netwatch's reusable Textual widgets."""

from netwatch.tui.app.widgets.socket_table import Column, Row, RowList, RowModel, SocketTable, TableRows

__all__ = ["Column", "Row", "RowList", "RowModel", "SocketTable", "TableRows"]
