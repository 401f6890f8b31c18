"""How kernel and process text (paths, names, command lines) becomes ``str`` in the records."""

from __future__ import annotations


def decode_text(data: bytes) -> str:
    """Kernel/process text as ``str``, byte-exact: undecodable bytes become surrogates (as Python does for paths)."""
    return data.decode("utf-8", "surrogateescape")
