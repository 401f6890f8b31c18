"""Human-readable units for the UI: bytes, rates, durations, ages and counts."""

from __future__ import annotations

import time

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float) -> str:
    """Bytes as ``512 B``, ``1.5 KiB``, ``12.3 MiB`` (binary prefixes)."""
    value = float(n)
    for unit in _BINARY_UNITS:
        if abs(value) < 1024 or unit == _BINARY_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate(bytes_per_second: float) -> str:
    """A throughput such as ``1.2 MiB/s``; ``0 B/s`` only when nothing moved (see :func:`rate_cell`)."""
    if 0 < bytes_per_second < 1:
        return "<1 B/s"
    return f"{size(bytes_per_second)}/s"


def bits_rate(bytes_per_second: float) -> str:
    """A throughput in bits as networks quote it: ``20.8 Mbit/s`` (decimal prefixes)."""
    value = bytes_per_second * 8
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if value < 1000 or unit == "Gbit/s":
            return f"{value:.0f} {unit}" if unit == "bit/s" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def compact_size(n: float) -> str:
    """Bytes in at most 4 cells plus the unit, for table columns: ``512B``, ``9.5K``, ``961K``, ``3.8M``
    (binary multiples, as :func:`size`)."""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1000 or unit == "T":
            if unit == "B":
                return f"{int(value)}B"
            return f"{value:.1f}{unit}" if value < 9.95 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate_cell(bytes_per_second: float) -> str:
    """A throughput for a table cell: ``961K/s``; blank when nothing moved (exactly when :func:`rate` says
    ``0 B/s``), so busy sockets stand out."""
    if bytes_per_second <= 0:
        return ""
    return "<1B/s" if bytes_per_second < 1 else f"{compact_size(bytes_per_second)}/s"


def quantity_cell(n: int) -> str:
    """A byte count for a 6-cell table column: whole up to 999,999 (``65483``), then ``3.8M``; the exact value
    is in the detail pane and JSON."""
    return str(n) if n < 1_000_000 else compact_size(n)


def duration_us(microseconds: float) -> str:
    """A duration given in microseconds: ``850 µs``, ``12.3 ms``, ``1.25 s``, then ``2m05s`` from a minute."""
    if microseconds < 1000:
        return f"{int(microseconds)} µs"
    if microseconds < 1_000_000:
        return f"{microseconds / 1000:.1f} ms"
    if microseconds < 60_000_000:
        return f"{microseconds / 1_000_000:.2f} s"
    return age(microseconds / 1_000_000)


def duration_ms(milliseconds: float) -> str:
    """A duration given in milliseconds."""
    return duration_us(milliseconds * 1000)


def age(seconds: float) -> str:
    """Elapsed time, compact: ``42s``, ``12m05s``, ``3h12m``, ``2d03h``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def coarse_age(seconds: float) -> str:
    """:func:`age` to the minute from a minute on (``42s``, ``12m``, ``3h12m``): a table cell that changes once a
    minute, not at every refresh (an idle table then repaints nothing)."""
    whole = max(0, int(seconds))
    return f"{whole // 60}m" if 60 <= whole < 3600 else age(whole)


def count(n: int) -> str:
    """An integer with thousands separators."""
    return f"{n:,}"


def clock_time(epoch_seconds: float) -> str:
    """Local wall-clock time of day, ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(epoch_seconds))


def interval(seconds: float) -> str:
    """A refresh interval: ``0.5s``, ``2s``."""
    return f"{seconds:g}s"
