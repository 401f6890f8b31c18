"""Fast construction of model.Socket records (the decoders build 100,000 of them per snapshot).

``Socket`` is a frozen, slotted dataclass with ~30 fields: its generated ``__init__`` sets each one through
``object.__setattr__`` (~8 us per record here, more than the whole decoding). :func:`new_socket` instead
builds a :class:`_SocketBuilder`, a plain class with exactly ``Socket``'s slots whose ``__init__`` stores them
directly (~0.6 us), and then turns it into a ``Socket`` by ``__class__`` assignment, which CPython allows
between classes of identical slot layout. The result is an ordinary, equal, frozen ``Socket`` (~270 bytes,
against ~900 for a record carrying a ``__dict__``).

:func:`set_owners` fills in ``Socket.owners`` of a record that is not yet published (the owners are found
after the dump).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from netwatch.backends.model.records import Socket

SOCKET_FIELDS = tuple(field.name for field in dataclasses.fields(Socket))


def _builder_class() -> type:
    """A class with ``Socket``'s slots whose ``__init__(<every field, in order>)`` sets them and then makes
    the instance a ``Socket``."""
    arguments = ", ".join(SOCKET_FIELDS)
    stores = "".join(f"    self.{name} = {name}\n" for name in SOCKET_FIELDS)
    namespace: dict[str, object] = {"Socket": Socket}
    exec(f"def __init__(self, {arguments}):\n{stores}    self.__class__ = Socket\n", namespace)  # noqa: S102
    return type("_SocketBuilder", (), {"__slots__": SOCKET_FIELDS, "__init__": namespace["__init__"]})


new_socket: Callable[..., Socket] = _builder_class()
"""``new_socket(<every Socket field, in order or by name>) -> Socket``, without the dataclass ``__init__``."""

set_owners: Callable[[Socket, tuple], None] = Socket.owners.__set__  # type: ignore[attr-defined]
"""``set_owners(record, owners)``: the slot's own setter, for a record still being built."""
