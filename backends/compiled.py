"""netwatch's optional compiled parts (small C extensions), each loaded here or None where it is not built or
they are turned off.

``pip install`` builds them where a C compiler and the Python headers are found, and installs without them
otherwise; every caller has a pure-Python path that gives the same results. ``NETWATCH_PURE_PYTHON=1`` turns them
off (the tests run both ways); ``netwatch --version`` says which path runs.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

SPLITTER = "netwatch.backends.sources.netlink._scan"
"""The sock_diag splitter (``sources/netlink/_scan.c``): see ``transport.DiagSocket.stream``."""
DECODER = "netwatch.backends.sources.netlink._decode"
"""The inet_diag decoder (``sources/netlink/_decode.c``): see ``inet.InetDecoder.decode``."""
STRUCT_JSON = "netwatch.backends.model._struct_json"
"""The JSON encoder of ``struct tcp_info`` (``model/_struct_json.c``): see ``TcpInfo.json``."""
SOCKET_JSON = "netwatch.tui.cli._socket_json"
"""The JSON encoder of a socket's document (``tui/cli/_socket_json.c``): see ``SocketJsonEncoder.encode_function``."""
OWNERS = "netwatch.backends.model._owners"
"""Owner records (``model/_owners.c``): attached by inode (``records.attach_owners``), made from an fd table
(``FdTable.from_scan``)."""
FD_LINKS = "netwatch.backends.owners._fd_links"
"""The reader of an fd directory's links (``owners/_fd_links.c``): see ``proc_files.read_fd_inodes``."""
PARTS = {
    SPLITTER: "sock_diag splitter",
    DECODER: "inet_diag decoder",
    STRUCT_JSON: "tcp_info JSON encoder",
    SOCKET_JSON: "socket JSON encoder",
    OWNERS: "owner records",
    FD_LINKS: "fd link reader",
}
"""Each compiled module, and what ``--version`` calls it; setup.py builds each from its ``.c`` file (so this module
imports the standard library alone)."""


def load(module: str) -> ModuleType | None:
    """The compiled module ``module`` (one of :data:`PARTS`), or None: not built, or turned off."""
    if os.environ.get("NETWATCH_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def description() -> str:
    """Which path runs, for ``netwatch --version``: e.g. "compiled sock_diag splitter, tcp_info JSON encoder"."""
    built = [part for module, part in PARTS.items() if load(module) is not None]
    return f"compiled {', '.join(built)}" if built else "pure Python"
