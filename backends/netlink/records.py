"""Fast construction of model.Socket records from complete field dicts.

``Socket`` is a frozen dataclass with ~30 fields: its generated ``__init__`` sets each one through
``object.__setattr__`` (measured ~8 us per record here, more than the whole decoding). A dump builds
one dict with every field anyway, so the record is created without ``__init__`` and the dict becomes
its ``__dict__``: the result is an ordinary, equal, frozen ``Socket``. This needs a ``__dict__``
(i.e. ``Socket`` without ``slots=True``); otherwise the regular constructor is used.
"""

from __future__ import annotations

import dataclasses

from ..model import Socket

SOCKET_FIELDS = tuple(field.name for field in dataclasses.fields(Socket))
_USES_DICT = "__slots__" not in vars(Socket)
_new = object.__new__
_set = object.__setattr__


def socket_from_fields(fields: dict[str, object]) -> Socket:
    """A ``Socket`` whose attributes are ``fields``, which must hold exactly every field (taken over, not copied)."""
    if _USES_DICT:
        record = _new(Socket)
        _set(record, "__dict__", fields)
        return record
    return Socket(**fields)
