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
    """A throughput such as ``1.2 MiB/s``."""
    return f"{size(bytes_per_second)}/s"


def compact_size(n: float) -> str:
    """Bytes in at most 6 cells for table columns: ``512B``, ``12.3K``, ``1.2M``, ``3.4G``."""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1000 or unit == "T":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate_cell(bytes_per_second: float) -> str:
    """A throughput for a table cell (the header says "/s"): blank when idle, so busy sockets stand out."""
    return compact_size(bytes_per_second) if bytes_per_second >= 1 else ""


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


def count(n: int) -> str:
    """An integer with thousands separators."""
    return f"{n:,}"


def clock_time(epoch_seconds: float) -> str:
    """Local wall-clock time of day, ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(epoch_seconds))


def interval(seconds: float) -> str:
    """A refresh interval: ``0.5s``, ``2s``."""
    return f"{seconds:g}s"
