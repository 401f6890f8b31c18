"""Fast construction of model.Socket records (the decoders build 100,000 of them per snapshot).

``Socket`` is a frozen, slotted dataclass with ~30 fields: its generated ``__init__`` sets each one through
``object.__setattr__`` (~8 us per record here, more than the whole decoding). A decoder instead makes itself a
constructor with :func:`socket_builder`: generated code that stores each value straight into the slot of its
name on an instance of a plain class with exactly ``Socket``'s slots, then turns it into a ``Socket`` by
``__class__`` assignment, which CPython allows between classes of identical slot layout (~0.6 us). The result is
an ordinary, equal, frozen ``Socket`` (~270 bytes, against ~900 for a record carrying a ``__dict__``).

The constructor takes its values positionally (29 keyword arguments cost ~1.6 us more per record, a third of
the decoding) in the order the decoder names them, not the dataclass's: reordering ``Socket``'s fields changes
nothing, and a constructor that does not name every field exactly once fails when it is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from netwatch.backends.model.records import Socket

SOCKET_FIELDS = tuple(field.name for field in dataclasses.fields(Socket))
_SocketBuilder = type("_SocketBuilder", (), {"__slots__": SOCKET_FIELDS})


def socket_builder(*parameters: str, **constants: object) -> Callable[..., Socket]:
    """``build(<one value per name in parameters, in that order>) -> Socket``, the other fields set to
    ``constants``, without the dataclass ``__init__``.

    Raises TypeError unless ``parameters`` and ``constants`` together name every Socket field exactly once.
    """
    named = [*parameters, *constants]
    if sorted(named) != sorted(SOCKET_FIELDS):
        raise TypeError(f"a Socket builder must name each of {SOCKET_FIELDS} once, not {tuple(named)}")
    stores = "".join(f"    _record.{name} = {name}\n" for name in parameters)
    stores += "".join(f"    _record.{name} = _constant_{name}\n" for name in constants)
    namespace: dict[str, Any] = {f"_constant_{name}": value for name, value in constants.items()}
    namespace.update(_new=object.__new__, _SocketBuilder=_SocketBuilder, _Socket=Socket)
    source = f"def build({', '.join(parameters)}):\n    _record = _new(_SocketBuilder)\n{stores}"
    exec(source + "    _record.__class__ = _Socket\n    return _record\n", namespace)
    return namespace["build"]
