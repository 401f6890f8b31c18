"""``netwatch serve [--host 127.0.0.1] [--port 8000] [--allow-actions]``: the TUI in a web browser.

Served by the ``textual-serve`` library: each browser tab that opens the page starts its own ``netwatch`` TUI
process (as the user running ``serve``), drawn in the browser by xterm.js over a websocket. Read-only unless
``--allow-actions``: the served TUIs get ``--read-only``, so K and k refuse, and ``s`` hands the file to the
browser instead of writing it on the host. The server listens on loopback unless a host is named; the page and
its websocket carry no authentication, so a named host is reachable by anyone who can reach it. Requests that
name an unknown host (DNS rebinding) or come from another site's page are refused.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import shlex
import socket
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from netwatch.tui.cli.main import EXIT_USAGE, UsageError, _Parser, port_number
from netwatch.tui.cli.subcommand import add_filter_argument, add_live_arguments, compiled_filter, usage_error

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_HOST_HEADER = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
"""A Host header: a name or IPv4 address, or an IPv6 address in brackets, and an optional port."""


def _public_url(text: str) -> str:
    """An http(s) URL with a host (``https://netwatch.example/``): where browsers reach this server."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _HOST_HEADER.fullmatch(parts.netloc):
        raise argparse.ArgumentTypeError(f"not an http(s)://HOST[:PORT] URL: {text!r}")
    return text.rstrip("/")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netwatch serve", description=(
        "Serve the TUI to web browsers (textual-serve): each tab runs its own netwatch, read-only unless "
        "--allow-actions. No authentication: loopback only unless --host names an address; requests naming an "
        "unknown host or coming from another site's page are refused."))
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="ADDRESS",
                        help=f"the address to listen on (default: {DEFAULT_HOST}; 0.0.0.0 or :: for every one)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})")
    parser.add_argument("--allow-actions", action="store_true",
                        help="let the browser close sockets and signal processes (K, k), as this user")
    parser.add_argument("--public-url", type=_public_url, metavar="URL",
                        help="the address browsers use, when it is not http://HOST:PORT (a proxy in between)")
    add_live_arguments(parser, interval=None, interval_help="seconds between refreshes of each served TUI")
    add_filter_argument(parser)
    return parser  # fmt: skip


def tui_command(args: argparse.Namespace) -> str:
    """The shell command that starts one served TUI (textual-serve runs it through the shell)."""
    command = [sys.executable, "-m", "netwatch.tui"]
    if not args.allow_actions:
        command.append("--read-only")
    if args.interval is not None:
        command += ["--interval", repr(args.interval)]
    if args.netns is not None:
        command += ["--netns", args.netns.text]
    if args.filter.strip():
        command += ["--filter", args.filter]
    return shlex.join(command)


def _check_listen(host: str, port: int) -> None:
    """UsageError in one line when ``host`` is no address of this machine or ``port`` is taken there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise UsageError(f"not an address to listen on: {host!r} ({error})") from None
    family, kind, proto, _name, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            probe.bind(address)
    except OSError as error:
        raise UsageError(f"cannot listen on {host} port {port}: {error.strerror or error}") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def host_names(host: str, public_url: str | None) -> frozenset[str]:
    """The names a request's Host header may give besides an IP address: this machine's, ``--host``'s and
    ``--public-url``'s."""
    names = {"localhost", host, socket.gethostname(), socket.getfqdn()}
    if public_url is not None:
        names.add(urlsplit(public_url).hostname or "")
    return frozenset(name.lower() for name in names if name)


def refusal(host_header: str, origin: str | None, names: frozenset[str], public_url: str | None) -> str | None:
    """Why a request is refused, or None. The Host header must be an IP address or one of ``names`` (DNS
    rebinding gives the attacker's domain), and a page's ``Origin`` (a browser sends it with every websocket)
    must be this server's: another site's page may not open a session and read the host's sockets."""
    if not _HOST_HEADER.fullmatch(host_header):  # it is written into the page
        return "a malformed Host header"
    hostname = urlsplit(f"//{host_header}").hostname or ""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        if hostname not in names:
            return f"an unknown host name in the Host header: {hostname!r} (name it with --public-url)"
    served_at = urlsplit(public_url).netloc if public_url else host_header
    if origin is not None and urlsplit(origin).netloc.lower() != served_at.lower():
        return f"a page of another site ({origin!r}) may not open netwatch"
    return None


def _make_server(command: str, host: str, port: int, public_url: str | None) -> Any:
    """A textual-serve server that (1) refuses requests :func:`refusal` refuses, (2) points the page's websocket
    at the address the browser used (the Host header) unless ``public_url`` says otherwise (``--host 0.0.0.0``
    would send browsers to ``ws://0.0.0.0``), and (3) ends its sessions when it stops: each session's TUI is
    told to quit, instead of aiohttp waiting for the browsers to hang up."""
    import asyncio

    from aiohttp import web
    from textual_serve.server import Server

    names = host_names(host, public_url)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        reason = refusal(request.host, request.headers.get("Origin"), names, public_url)
        if reason is not None:
            raise web.HTTPForbidden(text=f"netwatch serve refuses {reason}\n")
        return await handler(request)

    class _Server(Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sessions: set[asyncio.Task[Any]] = set()

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

        async def handle_index(self, request: Any) -> Any:
            if public_url is None:  # no await between this and the page's rendering: one request at a time
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: Any) -> Any:
            session = asyncio.current_task()
            self.sessions.add(session)
            try:
                return await super().handle_websocket(request)
            finally:
                self.sessions.discard(session)

        async def on_shutdown(self, app: Any) -> None:
            for session in self.sessions:
                session.cancel()  # textual-serve then sends the TUI its quit and waits for it to exit

    return _Server(command, host=host, port=port, title="netwatch", public_url=public_url)


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``serve``)."""
    try:
        args = build_parser().parse_args(argv)
        compiled_filter(args.filter)
        _check_listen(args.host, args.port)
    except UsageError as error:
        return usage_error("netwatch serve", error)
    public_url = args.public_url or f"http://{_url_host(args.host)}:{args.port}"
    if args.allow_actions and not ipaddress.ip_address(socket.getaddrinfo(args.host, None)[0][4][0]).is_loopback:
        print(f"netwatch serve: warning: anyone who reaches {public_url} can close sockets and signal processes",
              file=sys.stderr)  # fmt: skip
    server = _make_server(tui_command(args), args.host, args.port, args.public_url)
    try:
        server.serve()
    except OSError as error:
        print(f"netwatch serve: cannot listen on {args.host} port {args.port}: {error.strerror or error}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except KeyboardInterrupt:
        pass
    return 0
