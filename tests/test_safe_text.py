"""Untrusted text is shown literally: no markup, no control characters reach the terminal."""

from __future__ import annotations

import unicodedata

import pytest
from rich.console import Console

from netwatch.tui.view.safe_text import plain, visible

CRAFTED = "[@click=app.quit]x[/] [red]y \x1b]0;pwn\x07 \x1b[2J"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("nginx: worker process", "nginx: worker process"),
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x00\x7f", "\\x00\\x7f"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI as one code point
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
        ("\u2066x\u2069\u2028\u2029", "\\u2066x\\u2069\\u2028\\u2029"),
        ("\u200f\u061c", "\\u200f\\u061c"),
        ("bad-\udcff-\udc80-byte", "bad-\\xff-\\x80-byte"),  # surrogateescape'd bytes 0xff and 0x80
        ("\ud800\udfff", "\\ud800\\udfff"),  # surrogates that are no escaped byte
        ("zero\u200bwidth\u200djoin\ufeffbom\u2060wj\xadshy", "zero\\u200bwidth\\u200djoin\\ufeffbom\\u2060wj\\xadshy"),
        ("tag\U000e0041\U000e007f", "tag\\U000e0041\\U000e007f"),
        ("[bold]x[/] \\x1b café 日本 🙂", "[bold]x[/] \\x1b café 日本 🙂"),
    ],
)
def test_visible_escapes_only_unsafe_characters(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_visible_escapes_controls_format_characters_separators_and_surrogates() -> None:
    """Every code point of Unicode categories Cc, Cf, Zl, Zp and Cs (per this Python's ``unicodedata``) becomes a
    printable ASCII escape; any other assigned one is left as it is (format characters of later Unicode versions
    may be escaped ahead of this Python's database)."""
    unsafe = {"Cc", "Cf", "Zl", "Zp", "Cs"}
    wrong = []
    for code_point in range(0x110000):
        character = chr(code_point)
        category = unicodedata.category(character)
        shown = visible(character)
        if shown == character:
            ok = category not in unsafe
        else:
            ok = category in (*unsafe, "Cn") and shown[0] == "\\" and shown.isascii() and shown.isprintable()
        if not ok:
            wrong.append(f"U+{code_point:04X} {category} {shown!r}")
    assert wrong == []


def test_visible_output_is_printable_and_encodable() -> None:
    every_code_point = "".join(chr(code) for code in range(0x3000))
    shown = visible(every_code_point)
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown
    shown.encode("utf-8")  # lone surrogates would raise here


def test_plain_is_never_markup() -> None:
    text = plain(CRAFTED, style="bold")
    assert text.plain == visible(CRAFTED)
    assert text.spans == []
    assert str(text.style) == "bold"
    console = Console(record=True, width=200, color_system=None)
    console.print(text)
    rendered = console.export_text()
    assert "[@click=app.quit]x[/] [red]y" in rendered
    assert "\x1b" not in rendered
