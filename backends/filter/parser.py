"""Recursive-descent parser of the filter language, producing one predicate (closures, no tree walk).

Grammar (keywords and state names are case-insensitive)::

    expr    := and_expr (("or" | "||") and_expr)*
    and_expr:= unary ((("and" | "&&"))? unary)*          -- adjacent terms are and-ed, like ss
    unary   := ("not" | "!") unary | "(" expr ")" | term
    term    := "state" NAME | ("sport" | "dport" | "port") [OP] PORT | ("src" | "dst") [= | !=] HOST
             | "proto" NAME | "family" NAME | "pid" [=] N | "process" [=] NAME | "user" NAME | "path" TEXT
             | "netns" NAME | "container" ID | "unit" NAME
             | "tcp" | "udp" | "raw" | "unix" | "ipv4" | "ipv6" | "inet" | "inet6" | WORD | "quoted string"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from netwatch.backends.filter import terms
from netwatch.backends.filter.lexer import FilterError, Token, tokenize
from netwatch.backends.filter.terms import Predicate
from netwatch.backends.model.names import PROTOS

T = TypeVar("T")
MAX_NESTING = 64
"""Deepest nesting of parentheses and negations accepted (bounds the parser's recursion)."""
_OR = frozenset({"or", "||"})
_AND = frozenset({"and", "&&"})
_NOT = frozenset({"not", "!"})
_CONNECTIVES = _OR | _AND
_PORT_SIDES = {"sport": "local", "dport": "remote", "port": "either"}
_HOST_SIDES = {"src": "local", "dst": "remote"}
_ARGUMENT_TERMS: dict[str, tuple[Callable[[str], Predicate], str]] = {
    "state": (terms.state_is, "a state"),
    "proto": (terms.protocol_is, "a protocol"),
    "family": (terms.family_is, "a family"),
    "pid": (terms.pid_is, "a process id"),
    "user": (terms.user_is, "a user name or uid"),
    "path": (terms.path_contains, "a path"),
    "netns": (terms.netns_is, "a network namespace name or inode"),
    "container": (terms.container_is, "a container id or name"),
    "unit": (terms.unit_is, "a systemd unit"),
}
"""Keywords followed by one argument (``pid`` may also take ``=``): builder and what the argument is."""
_SHORTHANDS = dict.fromkeys(PROTOS, terms.protocol_is) | dict.fromkeys(
    ("ipv4", "ipv6", "inet", "inet6"), terms.family_is)
"""Bare words that stand for ``proto WORD`` / ``family WORD`` (quote them to search the text instead)."""


class _Parser:
    def __init__(self, text: str):
        self._tokens = tokenize(text)
        self._index = 0
        self._open_parens = 0
        self._nesting = 0

    def parse(self) -> Predicate:
        if self._peek().kind == "end":
            return terms.match_everything
        predicate = self._or_expression()
        token = self._peek()
        if token.kind == ")":
            raise FilterError(token.position, token.text, "unbalanced ')': no '(' to close")
        if token.kind != "end":
            raise FilterError(token.position, token.text, "expected 'and', 'or' or a term")
        return predicate

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    @staticmethod
    def _word_is(token: Token, words: frozenset[str]) -> bool:
        return token.kind in ("word", "op") and token.text.lower() in words

    def _starts_term(self, token: Token) -> bool:
        """Whether ``token`` begins another conjunct (for the implicit ``and`` between adjacent terms)."""
        if token.kind in ("word", "string", "("):
            return not self._word_is(token, _CONNECTIVES)
        return self._word_is(token, _NOT)

    def _or_expression(self, after: Token | None = None) -> Predicate:
        alternatives = [self._and_expression(after)]
        while self._word_is(self._peek(), _OR):
            connective = self._next()
            alternatives.append(self._and_expression(after=connective))
        return terms.any_of(alternatives)

    def _and_expression(self, after: Token | None = None) -> Predicate:
        conjuncts = [self._unary(after)]
        while True:
            token = self._peek()
            if self._word_is(token, _AND):
                conjuncts.append(self._unary(after=self._next()))
            elif self._starts_term(token):
                conjuncts.append(self._unary())
            else:
                return terms.all_of(conjuncts)

    def _unary(self, after: Token | None = None) -> Predicate:
        token = self._next()
        if self._word_is(token, _NOT) or token.kind == "(":
            self._nesting += 1
            if self._nesting > MAX_NESTING:
                raise FilterError(token.position, token.text, f"nested more than {MAX_NESTING} deep")
            inner = self._negated(token) if token.kind != "(" else self._parenthesized(token)
            self._nesting -= 1
            return inner
        if token.kind == "string":
            return terms.text_contains(token.value)
        if token.kind == "word" and not self._word_is(token, _CONNECTIVES):
            return self._term(token)
        if token.kind == ")" and not self._open_parens:
            raise FilterError(token.position, token.text, "unbalanced ')': no '(' to close")
        problem = f"expected a term after '{after.text}'" if after is not None else "expected a term"
        raise FilterError(token.position, token.text, problem)

    def _negated(self, not_token: Token) -> Predicate:
        return terms.negation(self._unary(after=not_token))

    def _parenthesized(self, opening: Token) -> Predicate:
        self._open_parens += 1
        inner = self._or_expression(after=opening)
        closing = self._next()
        if closing.kind != ")":
            raise FilterError(closing.position, closing.text,
                              f"expected ')' to close the '(' at column {opening.position + 1}")
        self._open_parens -= 1
        return inner

    def _term(self, token: Token) -> Predicate:
        keyword = token.text.lower()
        if keyword in _PORT_SIDES:
            comparison = self._comparison(terms.COMPARISONS)
            argument = self._argument(token, "a port")
            port = self._built(argument, terms.parse_port)
            return terms.port_compares(_PORT_SIDES[keyword], comparison, port)
        if keyword in _HOST_SIDES:
            comparison = self._comparison(terms.EQUALITY | terms.INEQUALITY)
            argument = self._argument(token, "an address")
            spec = self._built(argument, terms.parse_host)
            predicate = terms.host_is(_HOST_SIDES[keyword], spec)
            return terms.negation(predicate) if comparison in terms.INEQUALITY else predicate
        if keyword == "process":
            exact = self._comparison(terms.EQUALITY, default="") in terms.EQUALITY
            argument = self._argument(token, "a process name")
            return terms.process_named(argument.value, exact)
        if keyword in _ARGUMENT_TERMS:
            if keyword == "pid":
                self._comparison(terms.EQUALITY)
            build, what = _ARGUMENT_TERMS[keyword]
            argument = self._argument(token, what)
            return self._built(argument, build)
        if keyword in _SHORTHANDS:
            return _SHORTHANDS[keyword](keyword)
        return terms.text_contains(token.value)

    def _comparison(self, allowed: frozenset[str] | dict[str, object], default: str = "=") -> str:
        """An optional comparison operator (``>=`` or ``ge``...) among ``allowed``; ``default`` if absent."""
        token = self._peek()
        if token.kind in ("op", "word") and token.text.lower() in allowed:
            self._next()
            return token.text.lower()
        return default

    def _argument(self, keyword: Token, what: str) -> Token:
        token = self._peek()
        if token.kind not in ("word", "string"):
            raise FilterError(token.position, token.text, f"expected {what} after '{keyword.text}'")
        return self._next()

    @staticmethod
    def _built(argument: Token, build: Callable[[str], T]) -> T:
        """``build(argument.value)``, with its ValueError turned into a FilterError at ``argument``."""
        try:
            return build(argument.value)
        except ValueError as error:
            raise FilterError(argument.position, argument.text, str(error)) from None


def parse(text: str) -> Predicate:
    """Compile filter text into one predicate; raises :class:`FilterError`."""
    return _Parser(text).parse()
