"""The settings the TUI keeps between runs, in ``$XDG_CONFIG_HOME/netwatch/settings.toml`` (default
``~/.config``): theme, refresh interval, the view shown at start, each view's sort, name resolution and the
detail pane's width. Read with :mod:`tomllib` at start, written whole (flat keys, a tiny writer) when one changes.

A file that cannot be read, is not TOML or holds a bad value is reported in one line and ignored (and left as it
is: nothing is written over it during that run); settings are never a reason to crash.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from netwatch.tui.view.intervals import INTERVAL_RANGE
from netwatch.tui.view.rows import COLUMNS_OF_VIEW, VIEWS

DETAIL_WIDTH_LIMITS = (30, 1000)
"""Columns the detail pane may be given (``[`` and ``]``, the settings file)."""


class SettingsError(Exception):
    """Why a settings file is ignored (one line)."""


@dataclass
class Settings:
    """What persists; None: not set (the built-in default applies)."""

    theme: str | None = None
    interval: float | None = None
    view: str | None = None
    names: bool = False
    detail_width: int | None = None
    """Columns of the detail pane (``[`` and ``]``; None: the stylesheet's)."""
    sort: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """Per view: (column key, reversed)."""


def settings_path() -> Path:
    """``$XDG_CONFIG_HOME/netwatch/settings.toml``; ``~/.config`` when it is unset, empty or relative (as the XDG
    base directory specification says)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "netwatch" / "settings.toml"


def parse_settings(text: str) -> Settings:
    """The settings in ``text`` (TOML); raises :class:`SettingsError` for bad TOML or a bad value. Unknown keys
    are ignored (a newer netwatch may have written them)."""
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"not TOML: {error}") from None
    settings = Settings()
    if "theme" in values:
        settings.theme = _typed(values, "theme", str)
    if "interval" in values:
        interval = _typed(values, "interval", (int, float))
        low, high = INTERVAL_RANGE
        if not (math.isfinite(interval) and low <= interval <= high):
            raise SettingsError(f"interval must be between {low:g} and {high:g} seconds, not {interval!r}")
        settings.interval = float(interval)
    if "view" in values:
        settings.view = _choice(values, "view", VIEWS)
    if "names" in values:
        settings.names = _typed(values, "names", bool)
    if "detail_width" in values:
        width = _typed(values, "detail_width", int)
        low, high = DETAIL_WIDTH_LIMITS
        if not low <= width <= high:
            raise SettingsError(f"detail_width must be between {low} and {high} columns, not {width!r}")
        settings.detail_width = width
    for view in VIEWS:
        if f"sort_{view}" in values:
            column = _sort_column(values, view)
            reverse = _typed(values, f"reverse_{view}", bool) if f"reverse_{view}" in values else False
            if column is not None:
                settings.sort[view] = (column, reverse)
    return settings


_RENAMED_COLUMNS = {"age": "seen"}
"""Columns an earlier netwatch wrote under another key."""
_DROPPED_COLUMNS = {"listeners": frozenset({"peer", "send", "recv", "rtt"})}
"""Columns an earlier netwatch had in a view (a file sorting by one gets the view's default sort)."""


def _sort_column(values: dict, view: str) -> str | None:
    """The sort column of ``view``; None for one an earlier netwatch had in that view (the default sort then)."""
    key = f"sort_{view}"
    columns = tuple(column.key for column in COLUMNS_OF_VIEW[view])
    value = _typed(values, key, str)
    value = _RENAMED_COLUMNS.get(value, value)  # type: ignore[call-overload]
    if value in columns:
        return value  # type: ignore[return-value]
    if value in _DROPPED_COLUMNS.get(view, ()):
        return None
    raise SettingsError(f"{key} must be one of {', '.join(columns)}, not {values[key]!r}")


def _typed(values: dict, key: str, kind: type | tuple[type, ...]) -> object:
    value = values[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):  # True is an int too
        raise SettingsError(f"{key} has the wrong type: {value!r}")
    return value


def _choice(values: dict, key: str, choices: tuple[str, ...]) -> str:
    value = _typed(values, key, str)
    if value not in choices:
        raise SettingsError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
    return value  # type: ignore[return-value]


def settings_text(settings: Settings) -> str:
    """``settings`` as TOML, one flat key a line (strings written as JSON strings, which TOML reads alike)."""
    lines = ["# netwatch settings: written by netwatch when they change; edit while it is not running."]
    entries: list[tuple[str, object]] = [
        ("theme", settings.theme), ("interval", settings.interval), ("view", settings.view),
        ("names", settings.names), ("detail_width", settings.detail_width),
    ]
    for view in VIEWS:
        if view in settings.sort:
            column, reverse = settings.sort[view]
            entries += [(f"sort_{view}", column), (f"reverse_{view}", reverse)]
    for key, value in entries:
        if value is None:
            continue
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, str):
            shown = json.dumps(value, ensure_ascii=True)
        else:
            shown = repr(value)
        lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


class SettingsFile:
    """Where the settings live: :meth:`load` at start, :meth:`save` on each change.

    After a bad file was loaded, :meth:`save` writes nothing (the user's file stays as it is); a file that cannot
    be written is reported once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writable = True
        self._reported_write_error = False

    @classmethod
    def default(cls) -> SettingsFile:
        return cls(settings_path())

    def load(self) -> tuple[Settings, str | None]:
        """The settings, and a one-line message when the file is ignored (a missing file is no error)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Settings(), None
        except (OSError, UnicodeDecodeError) as error:
            self._writable = False
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            return Settings(), f"settings file {self.path} ignored: {reason}"
        try:
            return parse_settings(text), None
        except SettingsError as error:
            self._writable = False
            return Settings(), f"settings file {self.path} ignored: {' '.join(str(error).split())}"

    def save(self, settings: Settings) -> str | None:
        """Write ``settings`` (atomically: a reader never sees half a file); a one-line message the first time
        writing fails, else None."""
        if not self._writable:
            return None
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(settings_text(settings), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            if self._reported_write_error:
                return None
            self._reported_write_error = True
            return f"settings not saved to {self.path}: {error.strerror or error}"
        return None
