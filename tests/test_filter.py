"""The filter language: every term form, combinations, shorthands, substring search and error positions."""

from __future__ import annotations

import os
import pwd
import time

import pytest

from netwatch.backends.filter import FilterError, compile_filter, pid_filter
from tests.socket_records import make_process, make_snapshot, make_socket, owned_by

PROCESSES = {
    100: make_process(100, "sshd", user="root", uid=0),
    200: make_process(200, "nginx", user="www-data", uid=33),
    300: make_process(300, "Postgres", user="postgres", uid=70),
}
SOCKETS = {
    "ssh_listen": make_socket(("tcp", 1), state="LISTEN", local_address="0.0.0.0", local_port=22,
                              remote_address="0.0.0.0", remote_port=0, owners=owned_by(100), uid=0),
    "ssh_conn": make_socket(("tcp", 2), local_address="10.1.2.3", local_port=22, remote_address="192.168.1.7",
                            remote_port=51000, owners=owned_by(100), uid=0),
    "web_v6": make_socket(("tcp", 3), family="ipv6", local_address="::1", local_port=443,
                          remote_address="::1", remote_port=50001, owners=owned_by(200), uid=33),
    "web_mapped": make_socket(("tcp", 4), family="ipv6", local_address="::ffff:127.0.0.1", local_port=8080,
                              remote_address="::ffff:10.9.8.7", remote_port=40404, owners=owned_by(200, 300)),
    "time_wait": make_socket(("tcp", 5), state="TIME_WAIT", local_address="127.0.0.1", local_port=5432,
                             remote_address="127.0.0.1", remote_port=33333, inode=0),
    "syn_recv": make_socket(("tcp", 6), state="NEW_SYN_RECV", local_port=443, remote_port=1025),
    "fin_wait": make_socket(("tcp", 7), state="FIN_WAIT1", local_port=1024, remote_port=1023),
    "udp": make_socket(("udp", 8), proto="udp", state="UNCONN", local_address="127.0.0.53", local_port=53,
                       remote_address="0.0.0.0", remote_port=0, uid=101),
    "udp_conn": make_socket(("udp", 9), proto="udp", local_port=5353, remote_address="8.8.8.8", remote_port=53),
    "unix": make_socket(("unix", 10), proto="unix", family="unix", state="LISTEN", local_address="",
                        local_port=0, remote_address="", remote_port=0, path="/run/PostgreSQL/.s.PGSQL.5432",
                        owners=owned_by(300), uid=70),
    "raw": make_socket(("raw", 11), proto="raw", state="UNCONN", local_port=1, remote_port=0),
}


def matching(text: str) -> set[str]:
    socket_filter = compile_filter(text)
    return {name for name, sock in SOCKETS.items() if socket_filter.matches(sock, PROCESSES)}


def all_but(*names: str) -> set[str]:
    return set(SOCKETS) - set(names)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_filter_matches_everything(text):
    assert matching(text) == set(SOCKETS)
    assert compile_filter(text).text == text


@pytest.mark.parametrize(("text", "expected"), [
    ("state established", {"ssh_conn", "web_v6", "web_mapped", "udp_conn"}),
    ("state ESTAB", {"ssh_conn", "web_v6", "web_mapped", "udp_conn"}),
    ("state listening", {"ssh_listen", "unix"}),
    ("state listen", {"ssh_listen", "unix"}),
    ("state LISTEN", {"ssh_listen", "unix"}),
    ("state time-wait", {"time_wait"}),
    ("state TIME_WAIT", {"time_wait"}),
    ("state syn-recv", {"syn_recv"}),
    ("state fin-wait-1", {"fin_wait"}),
    ("state FIN_WAIT1", {"fin_wait"}),
    ("state fin-wait-2", set()),
    ("state unconn", {"udp", "raw"}),
    ("state closed", {"udp", "raw"}),
    ("state close", {"udp", "raw"}),
    ("state connected", {"ssh_conn", "web_v6", "web_mapped", "udp_conn", "fin_wait"}),
    ("state synchronized", {"ssh_conn", "web_v6", "web_mapped", "udp_conn", "fin_wait"}),
    ("state bucket", {"time_wait", "syn_recv"}),
    ("state all", set(SOCKETS)),
    ("STATE Close-Wait", set()),
])  # fmt: skip
def test_state(text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("sport = :22", {"ssh_listen", "ssh_conn"}),
    ("sport == :22", {"ssh_listen", "ssh_conn"}),
    ("sport eq :22", {"ssh_listen", "ssh_conn"}),
    ("sport :22", {"ssh_listen", "ssh_conn"}),
    ("sport 22", {"ssh_listen", "ssh_conn"}),
    ("sport=:22", {"ssh_listen", "ssh_conn"}),
    ("sport = :ssh", {"ssh_listen", "ssh_conn"}),
    ("sport != :22", all_but("ssh_listen", "ssh_conn", "unix")),
    ("sport ne 22", all_but("ssh_listen", "ssh_conn", "unix")),
    ("dport >= 1024", {"ssh_conn", "web_v6", "web_mapped", "time_wait", "syn_recv"}),
    ("dport ge 1024", {"ssh_conn", "web_v6", "web_mapped", "time_wait", "syn_recv"}),
    ("dport > 1024", {"ssh_conn", "web_v6", "web_mapped", "time_wait", "syn_recv"}),
    ("dport gt 1025", {"ssh_conn", "web_v6", "web_mapped", "time_wait"}),
    ("dport < 1", {"ssh_listen", "udp", "raw"}),
    ("dport lt :1", {"ssh_listen", "udp", "raw"}),
    ("sport <= 22", {"ssh_listen", "ssh_conn", "raw"}),
    ("sport le 22", {"ssh_listen", "ssh_conn", "raw"}),
    ("port 53", {"udp", "udp_conn"}),
    ("port = :443", {"web_v6", "syn_recv"}),
    ("port >= 50000", {"ssh_conn", "web_v6"}),
])  # fmt: skip
def test_ports(text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("dst 10.0.0.0/8", {"web_mapped"}),  # ::ffff:10.9.8.7 is IPv4
    ("src 10.0.0.0/8", {"ssh_conn"}),
    ("src 10.1.2.3", {"ssh_conn"}),
    ("src 127.0.0.0/8", {"web_mapped", "time_wait", "syn_recv", "fin_wait", "udp", "udp_conn", "raw"}),
    ("src [::1]", {"web_v6"}),
    ("src ::1", {"web_v6"}),
    ("src [::1]:443", {"web_v6"}),
    ("dst [::1]:443", set()),
    ("dst [::1]:50001", {"web_v6"}),
    ("src [::]/0", {"web_v6"}),
    ("src [::/0]", {"web_v6"}),
    ("src 127.0.0.1:8080", {"web_mapped"}),
    ("src ::ffff:127.0.0.1", {"web_mapped", "time_wait", "syn_recv", "fin_wait", "udp_conn", "raw"}),
    ("src [::ffff:127.0.0.0]/104", {"web_mapped", "time_wait", "syn_recv", "fin_wait", "udp", "udp_conn", "raw"}),
    ("src *:22", {"ssh_listen", "ssh_conn"}),
    ("src :22", {"ssh_listen", "ssh_conn"}),
    ("dst 8.8.8.8:53", {"udp_conn"}),
    ("dst 8.8.8.8:*", {"udp_conn"}),
    ("src *", set(SOCKETS)),
    ("dst = 8.8.8.8", {"udp_conn"}),
    ("dst != 8.8.8.8", all_but("udp_conn")),
])  # fmt: skip
def test_addresses(text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("proto tcp", {"ssh_listen", "ssh_conn", "web_v6", "web_mapped", "time_wait", "syn_recv", "fin_wait"}),
    ("proto UDP", {"udp", "udp_conn"}),
    ("proto unix", {"unix"}),
    ("proto raw", {"raw"}),
    ("udp", {"udp", "udp_conn"}),
    ("raw", {"raw"}),
    ("unix", {"unix"}),
    ("family ipv6", {"web_v6", "web_mapped"}),
    ("family inet6", {"web_v6", "web_mapped"}),
    ("family unix", {"unix"}),
    ("ipv6", {"web_v6", "web_mapped"}),
    ("ipv4", all_but("web_v6", "web_mapped", "unix")),
    ("inet", all_but("web_v6", "web_mapped", "unix")),
])  # fmt: skip
def test_protocol_and_family(text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("pid 100", {"ssh_listen", "ssh_conn"}),
    ("pid = 300", {"web_mapped", "unix"}),  # a socket with two owners matches either
    ("pid 999", set()),
    ("process ssh", {"ssh_listen", "ssh_conn"}),
    ("process NGINX", {"web_v6", "web_mapped"}),
    ("process gres", {"web_mapped", "unix"}),
    ("process = postgres", {"web_mapped", "unix"}),
    ("process = gres", set()),
    ('process "ngi"', {"web_v6", "web_mapped"}),
    ("user www-data", {"web_v6", "web_mapped"}),
    ("user 33", {"web_v6", "web_mapped"}),
    ("user 101", {"udp"}),  # the socket's own uid
    ("user 70", {"web_mapped", "unix"}),
    ("user nobody-at-all", set()),
    ("path PGSQL", {"unix"}),
    ("path '.s.pgsql'", {"unix"}),
    ("path /nowhere", set()),
])  # fmt: skip
def test_owners_and_paths(text, expected):
    assert matching(text) == expected


def test_user_name_resolves_to_the_socket_uid():
    name = pwd.getpwuid(os.getuid()).pw_name
    sock = make_socket(uid=os.getuid())
    assert compile_filter(f"user {name}").matches(sock, {})


@pytest.mark.parametrize(("text", "expected"), [
    ("ssh", {"ssh_listen", "ssh_conn"}),  # process name
    ("NGINX", {"web_v6", "web_mapped"}),
    ("192.168", {"ssh_conn"}),
    ("10.1.2.3:22", {"ssh_conn"}),
    ("[::1]:443", {"web_v6"}),
    ("127.0.0.1:8080", {"web_mapped"}),  # mapped addresses are shown, and searched, as IPv4
    ("ffff", set()),
    ("time_wait", {"time_wait"}),
    ("pgsql", {"unix"}),
    ("'tcp listen'", {"ssh_listen"}),
    ('"udp"', {"udp", "udp_conn"}),  # quoted: substring, not the shorthand
    ("300", {"web_mapped", "unix"}),  # owner pid
    ("estab", {"ssh_conn", "web_v6", "web_mapped", "udp_conn"}),
])  # fmt: skip
def test_bare_words_and_strings_search_the_row(text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("state established and sport = :22", {"ssh_conn"}),
    ("state established && sport = :22", {"ssh_conn"}),
    ("state established sport = :22", {"ssh_conn"}),  # implicit and
    ("sport = :22 or udp", {"ssh_listen", "ssh_conn", "udp", "udp_conn"}),
    ("sport = :22 || udp", {"ssh_listen", "ssh_conn", "udp", "udp_conn"}),
    ("not tcp", {"udp", "udp_conn", "unix", "raw"}),
    ("! tcp", {"udp", "udp_conn", "unix", "raw"}),
    ("!tcp", {"udp", "udp_conn", "unix", "raw"}),
    ("!!udp", {"udp", "udp_conn"}),
    ("not not udp", {"udp", "udp_conn"}),
    ("udp or raw and state unconn", {"udp", "udp_conn", "raw"}),  # and binds tighter
    ("(udp or raw) and state unconn", {"udp", "raw"}),
    ("(udp or raw) state unconn", {"udp", "raw"}),
    ("tcp and not (state listening or state time-wait)",
     {"ssh_conn", "web_v6", "web_mapped", "syn_recv", "fin_wait"}),
    ("((ipv6))", {"web_v6", "web_mapped"}),
    ("ipv6 AND NOT process postgres", {"web_v6"}),
    ("dport >= 1024 and dst 127.0.0.0/8 or unix", {"time_wait", "syn_recv", "unix"}),
])  # fmt: skip
def test_combinations(text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "column", "token", "problem"), [
    ("dport >> 22", 7, ">>", "expected a port after 'dport'"),
    ("sport = :foo", 9, ":foo", "expected a port number or service name"),
    ("sport = :70000", 9, ":70000", "port out of range"),
    ("sport = :", 9, ":", "expected a port"),
    ("state", 6, "", "expected a state after 'state'"),
    ("state foo", 7, "foo", "unknown state"),
    ("tcp and", 8, "", "expected a term after 'and'"),
    ("tcp or", 7, "", "expected a term after 'or'"),
    ("not", 4, "", "expected a term after 'not'"),
    ("tcp or or udp", 8, "or", "expected a term after 'or'"),
    ("and tcp", 1, "and", "expected a term"),
    ("(tcp or udp", 12, "", "expected ')' to close the '(' at column 1"),
    ("tcp or (udp and (raw)", 22, "", "expected ')' to close the '(' at column 8"),
    ("tcp)", 4, ")", "unbalanced ')'"),
    ("()", 2, ")", "expected a term after '('"),
    ("src localhost", 5, "localhost", "host names are not resolved"),
    ("dst example.com:80", 5, "example.com:80", "host names are not resolved"),
    ("dst [::1", 5, "[::1", "missing ']'"),
    ("dst [::1]x", 5, "[::1]x", "expected ':PORT' after ']'"),
    ("dst 10.0.0.1:", 5, "10.0.0.1:", "expected a port after ':'"),
    ("dst < 10.0.0.1", 5, "<", "expected an address after 'dst'"),
    ("proto sctp", 7, "sctp", "expected a protocol"),
    ("family ipx", 8, "ipx", "expected a family"),
    ("pid abc", 5, "abc", "expected a process id"),
    ("user", 5, "", "expected a user name or uid"),
    ("tcp = udp", 5, "=", "expected 'and', 'or' or a term"),
    ("'unterminated", 1, "'unterminated", "unterminated quoted string"),
    ('udp "a', 5, '"a', "unterminated quoted string"),
])  # fmt: skip
def test_errors_point_at_the_bad_token(text, column, token, problem):
    with pytest.raises(FilterError) as raised:
        compile_filter(text)
    error = raised.value
    assert isinstance(error, ValueError)
    assert (error.position + 1, error.token) == (column, token)
    assert problem in str(error)
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"bad filter at column {column} ")


def test_error_message_format():
    with pytest.raises(FilterError, match=r"^bad filter at column 7 near '>>': expected a port after 'dport'$"):
        compile_filter("dport >> 22")
    with pytest.raises(FilterError, match=r"^bad filter at column 8 \(end of filter\): expected a term after 'and'$"):
        compile_filter("tcp and")


def test_quoted_strings_unescape():
    sock = make_socket(proto="unix", family="unix", path='/tmp/a "b" \\c', local_address="", remote_address="")
    assert compile_filter(r'"a \"b\" \\c"').matches(sock, {})
    assert compile_filter(r"path 'a \"b'").matches(sock, {})


def test_matching_100k_sockets_with_a_typical_expression_is_fast():
    """Generous bound against accidental slowness; the measured figure is in the report, not asserted."""
    sockets = [make_socket(("tcp", i), local_port=1024 + i % 5000, remote_port=i % 3000, owners=owned_by(100),
                           state="ESTABLISHED" if i % 3 else "TIME_WAIT")
               for i in range(20_000)]
    snapshot = make_snapshot(sockets, at=0.0, processes=list(PROCESSES.values()))
    socket_filter = compile_filter("state established and (dport >= 1024 or dst 10.0.0.0/8) and not process nginx")
    started = time.perf_counter()
    count = sum(1 for sock in snapshot.sockets.values() if socket_filter.matches(sock, snapshot.processes))
    assert time.perf_counter() - started < 1.0
    assert count == sum(1 for i in range(20_000) if i % 3 and i % 3000 >= 1024)


def test_word_search_without_building_the_row_text_agrees_with_the_row_text():
    from netwatch.backends.filter.terms import row_text, text_contains

    texts = {row_text(sock, PROCESSES) for sock in SOCKETS.values()}
    needles = {text[start:start + length] for text in texts for start in range(len(text)) for length in (1, 2, 4, 7)}
    needles |= {"0", "22", "ffff", "127", "::", "a", "x"}
    for needle in needles:
        contains = text_contains(needle)
        for sock in SOCKETS.values():
            assert contains(sock, PROCESSES) == (needle in row_text(sock, PROCESSES)), (needle, sock.key)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(FilterError, match="nested more than"):
        compile_filter("(" * 5000 + "tcp" + ")" * 5000)
    with pytest.raises(FilterError, match="nested more than"):
        compile_filter("not " * 5000 + "tcp")
    assert matching("(" * 30 + "udp" + ")" * 30) == {"udp", "udp_conn"}


def test_long_flat_expressions_match_without_deep_recursion():
    assert matching(" ".join(["tcp"] * 3000)) == matching("tcp")
    assert matching(" or ".join(["pid 1"] * 3000 + ["udp"])) == {"udp", "udp_conn"}


@pytest.mark.parametrize("text", ['udp "a\nb', "sport = :a\x00b", "pid \x1b[2J"])
def test_error_messages_stay_one_printable_line(text):
    with pytest.raises(FilterError) as raised:
        compile_filter(text)
    assert str(raised.value).isprintable()


@pytest.mark.parametrize(("text", "pid", "expected"), [
    ("", 200, {"web_v6", "web_mapped"}),
    ("udp or tcp", 100, {"ssh_listen", "ssh_conn"}),
    ("state listening", 300, {"unix"}),
    ("not unix", 300, {"web_mapped"}),
])  # fmt: skip
def test_filters_join_as_predicates_and_the_joined_text_means_the_same(text, pid, expected):
    joined = compile_filter(text) & pid_filter(pid)
    assert {name for name, sock in SOCKETS.items() if joined.matches(sock, PROCESSES)} == expected
    assert matching(joined.text) == expected
    assert matching(pid_filter(pid).text) == matching(f"pid {pid}")
