"""The filter language shared by ``--filter`` and the TUI's filter box: compiled once into a predicate.

ss's useful subset and more; see :mod:`netwatch.backends.filter.parser` for the grammar. Examples::

    state established and dport >= 1024
    sport = :22 or src 10.0.0.0/8
    not (state listening or unix) process nginx
    dst [::1]:443 || user postgres
    "some text"            -- substring of the row (proto, state, endpoints, path, pids, process names)

Filters combine as predicates, never as text: ``compile_filter(text) & pid_filter(pid)`` keeps every error's
column in ``text`` and lets no ``)`` in ``text`` escape the conjunction.
"""

from __future__ import annotations

from collections.abc import Mapping

from netwatch.backends.filter import terms
from netwatch.backends.filter.lexer import FilterError
from netwatch.backends.filter.parser import parse
from netwatch.backends.filter.terms import Predicate
from netwatch.backends.model.records import Process, Socket

__all__ = ["FilterError", "SocketFilter", "compile_filter", "pid_filter"]


class SocketFilter:
    """A compiled filter expression."""

    __slots__ = ("text", "_predicate")

    def __init__(self, text: str, predicate: Predicate):
        self.text = text
        """The expression it was compiled from (of a combination: its parts', parenthesized and and-ed)."""
        self._predicate = predicate

    def matches(self, sock: Socket, processes: Mapping[int, Process]) -> bool:
        """Whether ``sock`` (whose owners are looked up in ``processes``) passes the filter."""
        return self._predicate(sock, processes)

    def __and__(self, other: SocketFilter) -> SocketFilter:
        """Sockets passing both filters (``other`` is asked only about those passing this one)."""
        text = " and ".join(f"({part.text})" for part in (self, other) if part.text.strip())
        return SocketFilter(text, terms.all_of([self._predicate, other._predicate]))

    def __repr__(self) -> str:
        return f"SocketFilter({self.text!r})"


def compile_filter(text: str) -> SocketFilter:
    """Compile ``text`` (empty or blank: match everything); raises :class:`FilterError` on a bad expression."""
    return SocketFilter(text, parse(text))


def pid_filter(pid: int) -> SocketFilter:
    """Sockets held by process ``pid`` (what ``--pid`` shows), like the term ``pid N``."""
    return SocketFilter(f"pid {pid}", terms.owned_by(pid))
