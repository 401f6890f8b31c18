"""Row keys in display order: sorting them by a column's values, finding one again after a change."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from contextlib import suppress
from typing import Any

_NEAR_ROWS = 64


def _mixed_sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders values of different types without raising: numbers, then text, then the rest."""
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, tuple):
        return (2, tuple(_mixed_sort_key(item) for item in value))
    if value is None:
        return (4, 0)
    return (3, f"{type(value).__name__}:{value!r}")


class Descending:
    """A sort value: minus ``value_of(key)`` (an age is minus a time). :func:`sort_keys` sorts by ``value_of`` itself
    the other way round, which orders the keys alike (a stable reverse sort keeps equal keys in order) and costs
    no Python call per key where ``value_of`` is a C function such as ``dict.get``."""

    __slots__ = ("value_of",)

    def __init__(self, value_of: Callable[[Hashable], Any]) -> None:
        self.value_of = value_of

    def __call__(self, key: Hashable) -> Any:
        value = self.value_of(key)
        return None if value is None else -value


def sort_keys(keys: Iterable[Hashable], value_of: Callable[[Hashable], Any], reverse: bool = False) -> list[Hashable]:
    """``keys`` ordered by ``value_of(key)`` (stable); keys whose value is ``None`` come last either way, and
    values of mixed types are ordered by type first instead of raising."""
    if isinstance(value_of, Descending):
        return sort_keys(keys, value_of.value_of, not reverse)
    ordered = list(keys)
    try:  # fast path: the values are mutually orderable, none is None
        ordered.sort(key=value_of, reverse=reverse)
        return ordered
    except TypeError:
        pass
    values = dict(zip(ordered, map(value_of, ordered), strict=True))
    present = [key for key in ordered if values[key] is not None]
    try:
        present.sort(key=values.__getitem__, reverse=reverse)
    except TypeError:  # mixed or unorderable types
        present.sort(key=lambda key: _mixed_sort_key(values[key]), reverse=reverse)
    present.extend(key for key in ordered if values[key] is None)
    return present


def nearest_kept(old_keys: Sequence[Hashable], index: int, keys: Sequence[Hashable]) -> int | None:
    """Where the row nearest to ``old_keys[index]`` (the next one down, else up, and so on) that is still among
    ``keys`` now is, or None when none is: the cursor's place after its own row went (filtered out, closed)."""
    kept = set(keys)
    for distance in range(1, len(old_keys)):
        for candidate in (index + distance, index - distance):
            if 0 <= candidate < len(old_keys) and old_keys[candidate] in kept:
                return position_of_key(keys, old_keys[candidate], near=index)
    return None


def position_of_key(keys: Sequence[Hashable], key: Hashable, near: int = 0) -> int | None:
    """Index of ``key`` in ``keys``, or ``None``: looks around index ``near`` first, then everywhere."""
    start = max(0, near - _NEAR_ROWS)
    for first, stop in ((start, near + _NEAR_ROWS), (0, len(keys))):
        with suppress(ValueError):
            return keys.index(key, first, stop)
    return None
