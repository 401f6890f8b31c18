"""``netwatch serve``: the TUI over HTTP, fetched and driven in a real headless browser (Debian's chromium, with
chromedriver through Selenium; installed by tests/run.sh, skipped where absent).

The browser draws the TUI with xterm.js on a canvas; the test reads xterm's screen buffer (what the canvas
shows) through a hook installed before the page's script runs, and types into the page as a person would.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from netwatch.tui.cli.serve import build_parser, tui_command

BROWSER, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    BROWSER is None or DRIVER is None, reason="no chromium/chromedriver (tests/run.sh installs Debian's as root)"
)
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, 'terminal', {configurable: true, set(value) {
  Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true, enumerable: true});
  window.netwatchTerminal = value;
}});
"""
"""Keeps the xterm.js Terminal textual-serve's page creates (``this.terminal = new Terminal(...)``)."""
READ_SCREEN = """
const terminal = window.netwatchTerminal;
if (!terminal) return [];
const lines = [];
for (let y = 0; y < terminal.rows; y++) {
  const line = terminal.buffer.active.getLine(y);
  lines.push(line ? line.translateToString(true) : '');
}
return lines;
"""
TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "netwatch.tui", "serve", *args], cwd=cwd, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


@contextmanager
def served(*args: str, cwd: Path | None = None, host: str = "127.0.0.1") -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A running ``netwatch serve`` on a free loopback port of ``host``, and its URL; ended with SIGTERM."""
    port = _free_port()
    server = _serve("--host", host, "--port", str(port), *args, cwd=cwd)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "netwatch serve did not listen"
                time.sleep(0.1)
        yield server, f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(TIMEOUT)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    # textual-serve starts a download with window.open() on a websocket message: a browser's pop-up blocker stops
    # it until the user allows pop-ups for the page (the TUI says so), as this browser is told to up front.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,900",
                     "--disable-popup-blocking"):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = BROWSER
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE_TERMINAL})
    driver.downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(driver.downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def _screen_until(driver: object, wanted: Callable[[list[str]], bool]) -> list[str]:
    """The browser's screen once ``wanted(lines)`` holds (failing with the screen after :data:`TIMEOUT`)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        lines = driver.execute_script(READ_SCREEN)
        if wanted(lines):
            return lines
        assert time.monotonic() < deadline, "\n".join(lines)
        time.sleep(0.2)


def _type(driver: object, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*keys).perform()


def _click_text(driver: object, text: str) -> None:
    """Click the middle of the first ``text`` on the screen with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    lines = driver.execute_script(READ_SCREEN)
    row = next(y for y, line in enumerate(lines) if text in line)
    column = lines[row].index(text) + len(text) / 2
    screen = driver.find_element(By.CSS_SELECTOR, ".xterm-screen")
    width, height, columns, rows = driver.execute_script(
        "const box = arguments[0].getBoundingClientRect(), terminal = window.netwatchTerminal;"
        "return [box.width, box.height, terminal.cols, terminal.rows];", screen)  # fmt: skip
    x, y = column * width / columns - width / 2, (row + 0.5) * height / rows - height / 2  # from the middle
    ActionChains(driver).move_to_element_with_offset(screen, round(x), round(y)).click().perform()


def _rows(lines: list[str], marker: str) -> list[str]:
    """The TCP rows of the table on the screen that hold ``marker``."""
    return [line for line in lines if line.startswith("tcp ") and marker in line]


@needs_browser
def test_the_browser_shows_the_connections_table_with_the_tests_own_socket(browser, connection) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    listener, client, served_side = connection
    client_end = f"127.0.0.1:{client.getsockname()[1]}"
    with served("--interval", "0.5") as (_server, url):
        page = urllib.request.urlopen(url, timeout=TIMEOUT).read().decode()
        assert f'data-session-websocket-url="ws://{url.removeprefix("http://")}ws"' in page
        browser.get(url)
        own = f"{os.getpid()}/"
        lines = _screen_until(browser, lambda lines: bool(_rows(lines, "")))  # the table; ours may be below its end
        assert any(line.lstrip().startswith("1 Connections") for line in lines)
        assert any(line.split()[:4] == ["proto", "state", "local", "peer"] for line in lines)
        assert "READ-ONLY" in "\n".join(lines)

        browser.find_element(By.ID, "terminal").click()
        _type(browser, "/")
        _screen_until(browser, lambda lines: any("enter applies" in line for line in lines))
        # both ports: an earlier test's TIME_WAIT may hold the listener's port number with another client port
        typed = f"dport = :{listener.getsockname()[1]} and sport = :{client.getsockname()[1]}"
        _type(browser, typed)
        _screen_until(browser, lambda lines: any(f"{typed}  " in line and "enter applies" in line for line in lines))
        _type(browser, Keys.ENTER)
        lines = _screen_until(browser, lambda lines: len(_rows(lines, "")) == 1)
        (row,) = _rows(lines, "")
        assert row.split()[:4] == ["tcp", "ESTAB", client_end, f"127.0.0.1:{listener.getsockname()[1]}"]
        assert own in row

        _type(browser, "K")  # read-only: the browser cannot close it
        _screen_until(browser, lambda lines: any("Read-only" in line for line in lines))
        client.sendall(b"still open")
        assert served_side.recv(10) == b"still open"


@needs_browser
def test_save_in_the_browser_downloads_there_and_writes_nothing_on_the_host(browser, connection, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    listener, client, _served = connection
    client_end = f"127.0.0.1:{client.getsockname()[1]}"
    only_ours = f"sport = :{client.getsockname()[1]} and dport = :{listener.getsockname()[1]}"
    with served("--filter", only_ours, cwd=tmp_path) as (_server, url):
        browser.get(url)
        _screen_until(browser, lambda lines: bool(_rows(lines, client_end)))
        browser.find_element(By.ID, "terminal").click()
        _type(browser, "s")
        _screen_until(browser, lambda lines: any("Save what this view shows" in line for line in lines))
        _click_text(browser, " CSV ")
        deadline = time.monotonic() + TIMEOUT
        while not (saved := list(browser.downloads.glob("netwatch-connections-*.csv"))):
            assert time.monotonic() < deadline, "no download arrived"
            time.sleep(0.2)
    (download,) = saved
    rows = download.read_text().splitlines()
    assert rows[0].startswith("proto,") and len(rows) == 2 and client_end.split(":")[1] in rows[1]
    assert list(tmp_path.iterdir()) == []


@needs_browser
def test_sigterm_ends_the_server_and_the_tuis_it_started(browser) -> None:
    with served() as (server, url):
        browser.get(url)
        _screen_until(browser, lambda lines: any("Connections" in line for line in lines))
        children = psutil.Process(server.pid).children(recursive=True)
        assert any("netwatch.tui" in " ".join(child.cmdline()) for child in children)
        server.send_signal(signal.SIGTERM)
        assert server.wait(TIMEOUT) == 0
        _gone, alive = psutil.wait_procs(children, timeout=TIMEOUT)
        assert alive == []


def test_the_served_command_is_read_only_unless_actions_are_allowed_and_quotes_the_filter() -> None:
    hostile = "process '; touch /tmp/pwned #"
    command = tui_command(build_parser().parse_args(["--filter", hostile, "--interval", "0.5", "--netns", "self"]))
    assert shlex.split(command)[1:] == [
        "-m", "netwatch.tui", "--read-only", "--interval", "0.5", "--netns", "self", "--filter", hostile
    ]  # fmt: skip
    allowed = tui_command(build_parser().parse_args(["--allow-actions"]))
    assert "--read-only" not in shlex.split(allowed)


def _refused(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "netwatch.tui", "serve", *args], capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
    return result.stderr


def test_bad_addresses_busy_ports_and_bad_filters_are_refused_in_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        assert "Address already in use" in _refused("--port", str(busy.getsockname()[1]))
    assert "not an address" in _refused("--host", "no such host.invalid")
    assert "not a port" in _refused("--port", "0")
    assert "not a port" in _refused("--port", "http")
    assert _refused("--filter", "sport >> 1").startswith("netwatch serve: ")
    assert "not an http(s)" in _refused("--public-url", "javascript:alert(1)")
    assert "not an http(s)" in _refused("--public-url", 'http://a"b/')


def test_the_page_names_the_address_the_browser_used_ipv6_included() -> None:
    with served(host="::1") as (_server, url):
        page = urllib.request.urlopen(url, timeout=TIMEOUT).read().decode()
    assert url.startswith("http://[::1]:")
    assert f'data-session-websocket-url="ws://{url.removeprefix("http://")}ws"' in page


def _status(url: str, **headers: str) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT).status
    except urllib.error.HTTPError as error:
        return error.code


def test_other_sites_and_unknown_host_names_are_refused() -> None:
    """DNS rebinding (a Host of the attacker's domain) and another site's page opening the websocket (its
    Origin) get 403; the page of the server's own address, by IP or by this machine's name, is served."""
    with served() as (_server, url):
        port = url.rsplit(":", 1)[1].rstrip("/")
        assert _status(url) == 200
        assert _status(url, Host=f"localhost:{port}") == 200
        assert _status(url, Host=f"{socket.gethostname()}:{port}") == 200
        assert _status(url, Host=f"rebound.example:{port}") == 403
        assert _status(f"{url}ws", Origin="http://evil.example") == 403  # the browser tests open it with ours
