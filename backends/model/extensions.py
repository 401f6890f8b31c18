"""``Socket.extensions``: further sock_diag attributes by name (``bbr``, ``sockopt``, ...), each a mapping of
plain values, and which of them sockets share.

Few distinct values make up most sockets' extensions, so sources share them between sockets: :func:`share`
makes such a read-only mapping and :func:`is_shared` recognises one (it lives as long as the snapshot holding
it and never changes: its encoding can be cached by identity). A :class:`LayeredExtensions` is a shared
mapping followed by one extension of the socket's own.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar, TypeVar

Extensions = Mapping[str, Mapping[str, object]]
V = TypeVar("V")


def share(values: Mapping[str, V]) -> Mapping[str, V]:
    """``values`` as a read-only mapping that many sockets may hold (do not change ``values`` afterwards)."""
    return MappingProxyType(values)


def is_shared(values: Mapping[str, object]) -> bool:
    """Whether ``values`` was made by :func:`share`."""
    return type(values) is MappingProxyType


class LayeredExtensions(Mapping[str, Mapping[str, object]]):
    """A shared mapping of extensions followed by the socket's own extension ``name``, kept as the kernel's raw
    bytes and decoded on access (a subclass says how): ~100 bytes per socket where a dict and a decoded record
    took ~250."""

    __slots__ = ("shared", "raw")
    name: ClassVar[str]
    """The key of the socket's own extension."""
    shared: Extensions
    raw: bytes

    def __init__(self, shared: Extensions, raw: bytes) -> None:
        self.shared = shared
        self.raw = raw

    @staticmethod
    @abstractmethod
    def decode(raw: bytes) -> Mapping[str, object]:
        """The socket's own extension from its raw bytes."""

    def own(self) -> Mapping[str, object]:
        """The socket's own extension (``self[self.name]``)."""
        return self.decode(self.raw)

    def __getitem__(self, key: str) -> Mapping[str, object]:
        if key == self.name:
            return self.decode(self.raw)
        return self.shared[key]

    def __contains__(self, key: object) -> bool:
        return key == self.name or key in self.shared

    def __iter__(self) -> Iterator[str]:
        yield from self.shared
        yield self.name

    def __len__(self) -> int:
        return len(self.shared) + 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)})"
