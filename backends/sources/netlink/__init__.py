"""The netlink sock_diag backend (primary, Linux): TCP, UDP, RAW and Unix sockets with their kernel state."""

from netwatch.backends.sources.netlink.source import NetlinkSource

__all__ = ["NetlinkSource"]
