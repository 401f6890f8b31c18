"""Tokens of the filter language, and the error every stage of it raises."""

from __future__ import annotations

import re
from dataclasses import dataclass


class FilterError(ValueError):
    """A filter expression that cannot be compiled; ``str()`` is one line pointing at the bad token."""

    def __init__(self, position: int, token: str, problem: str):
        self.position = position
        """0-based offset of the bad token in the filter text."""
        self.token = token
        """The bad token's text ('' at the end of the text)."""
        self.problem = problem
        where = f"near '{_printable(token)}'" if token else "(end of filter)"
        super().__init__(f"bad filter at column {position + 1} {where}: {problem}")


def _printable(text: str) -> str:
    """``text`` with control characters written as escapes, so the message stays one harmless line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is "(", ")", "op", "string", "word" or "end"; ``value`` is the unquoted text."""

    kind: str
    text: str
    value: str
    position: int


OPERATORS = frozenset({"=", "==", "!=", "<", "<=", ">", ">=", "!", "&&", "||"})
"""Valid operators; the lexer also passes on other runs of ``=<>!`` (e.g. ``>>``) for the parser to reject."""

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<paren>[()])
    | (?P<op>[=<>!]+|&&|\|\|)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<quote>["'])
    | (?P<word>(?:[^\s()=<>!"'&|]|&(?!&)|\|(?!\|))+)
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")


def tokenize(text: str) -> list[Token]:
    """Split filter text into tokens, ending with an "end" token at ``len(text)``."""
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match is not None, "every character starts one of the alternatives"
        kind = match.lastgroup
        lexeme = match.group()
        if kind == "quote":
            raise FilterError(position, text[position:], "unterminated quoted string")
        if kind == "op" and lexeme not in OPERATORS and set(lexeme) == {"!"}:  # "!!x": one "!" each
            tokens.extend(Token("op", "!", "!", position + i) for i in range(len(lexeme)))
        elif kind == "paren":
            tokens.append(Token(lexeme, lexeme, lexeme, position))
        elif kind == "string":
            tokens.append(Token("string", lexeme, _ESCAPE.sub(r"\1", lexeme[1:-1]), position))
        elif kind != "space":
            tokens.append(Token(kind, lexeme, lexeme, position))
        position = match.end()
    tokens.append(Token("end", "", "", len(text)))
    return tokens
