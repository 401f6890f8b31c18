"""Find the host's network namespaces, name them, pick those asked for, and open sockets inside them.

Namespaces are found through ``/proc/<pid>/ns/net`` (one readlink per process, deduplicated by inode) and the
bind mounts that keep a namespace alive with no process in it (``/run/netns/*`` as ``ip netns`` makes them,
``/var/run/docker/netns/*``). A socket created by a thread that has ``setns``'d into a namespace stays bound to
that namespace: :func:`open_inside` makes one on a short-lived thread, so netwatch's own threads never move.

pyroute2's ``netns`` helpers would do the entering, but importing them costs 317 ms here (measured with
``python -X importtime``), five times netwatch's whole start-up: ``os.setns`` (Python 3.12) or libc's
``setns`` through ctypes does the same in one call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from netwatch.backends.model.containers import Container, cgroup_path, container_of
from netwatch.backends.model.namespaces import Namespace, default_name
from netwatch.backends.model.text import decode_text

if TYPE_CHECKING:
    from netwatch.backends.process_events import EventReader

BIND_MOUNT_DIRS = ("/run/netns", "/var/run/docker/netns")
"""Where namespaces are kept alive by bind mounts (``ip netns``, Docker)."""
CLONE_NEWNET = 0x40000000
OWNERS_CHECKED = 8
"""Processes of a namespace whose cgroup is read to find its container or unit, at most."""
NO_RIGHTS = "entering a network namespace needs CAP_SYS_ADMIN: run as root to see them"

T = TypeVar("T")


class NamespaceUnavailable(Exception):
    """A namespace could not be entered: ``gone`` (it no longer exists) or refused (the message says why)."""

    def __init__(self, message: str, gone: bool) -> None:
        super().__init__(message)
        self.gone = gone


@dataclass(frozen=True, slots=True)
class Found:
    """A namespace as found, and how to enter it."""

    namespace: Namespace
    paths: tuple[str, ...]
    """Files that refer to it (``/proc/<pid>/ns/net`` of its processes, bind mounts): any one enters it."""


@dataclass(frozen=True, slots=True)
class Enumeration:
    """Every namespace found, by inode, and how many processes' namespace could not be read (and so, may hold
    namespaces not found)."""

    found: dict[int, Found]
    unreadable: int = 0


def own_netns(proc: str = "/proc") -> int | None:
    """The inode of netwatch's own network namespace (None where /proc cannot tell)."""
    try:
        return os.stat(f"{proc}/self/ns/net").st_ino
    except OSError:
        return None


class Namespaces:
    """Enumerates namespaces at each snapshot, caching what a namespace is called while it exists."""

    def __init__(
        self, proc: str = "/proc", bind_dirs: Iterable[str] = BIND_MOUNT_DIRS, events: EventReader | None = None
    ) -> None:
        """``events``: the proc connector's, where it is read (see :meth:`enumerate`)."""
        self._proc = proc
        self._bind_dirs = tuple(bind_dirs)
        self._events = events
        self._containers: dict[int, Container | None] = {}
        self._last: tuple[frozenset[tuple[str, int]], int, float, Enumeration] | None = None
        """The last enumeration: its processes (name and inode of each /proc/<pid>), netwatch's namespace, when."""

    def enumerate(self, max_age: float = 0.0) -> Enumeration:
        """Every namespace now (names and containers cached by inode while the namespace lives); where /proc shows
        no namespace at all, netwatch's own alone (inode 0). ``max_age``: the last enumeration again while no process
        came or went (nor netwatch moved) and it is younger than that many seconds: a process that moves itself into
        another namespace (``setns``, ``unshare``) and a namespace bind-mounted with no process in it are then found
        within that bound (reading every process's namespace was ~0.5 ms of an idle refresh, most of /proc's cost
        being a cold cache's). With proc connector events, no event since the last call means that no process came or
        went, without listing /proc (~0.35 ms of an idle refresh)."""
        try:
            own_stat = os.stat(f"{self._proc}/self/ns/net")
        except OSError:
            return Enumeration({0: Found(Namespace(0, "self", own=True), ())})
        own = own_stat.st_ino
        now = time.monotonic()
        touched = self._events.take() if self._events is not None else None
        last = self._last
        if last is not None and (max_age <= 0 or own != last[1] or now - last[2] >= max_age):
            last = None
        if last is not None and touched is not None and not touched:
            return last[3]
        with os.scandir(self._proc) as entries:
            processes = frozenset((entry.name, entry.inode()) for entry in entries if entry.name.isdigit())
        if last is not None and processes == last[0]:
            return last[3]
        enumeration = self._enumerate(own, own_stat.st_dev, processes)
        self._last = processes, own, now, enumeration
        return enumeration

    def _enumerate(self, own: int, nsfs_device: int, processes: frozenset[tuple[str, int]]) -> Enumeration:
        pids_of: dict[int, list[int]] = {own: []}
        unreadable = 0
        for name, _inode in sorted(processes, key=lambda process: int(process[0])):  # as /proc lists them
            try:
                link = os.readlink(f"{self._proc}/{name}/ns/net")
            except PermissionError:
                unreadable += 1
                continue
            except OSError:  # exited, or a kernel thread
                continue
            if link.startswith("net:["):
                pids_of.setdefault(int(link[5:-1]), []).append(int(name))
        bound = self._bind_mounts(nsfs_device)
        for inode in bound:
            pids_of.setdefault(inode, [])
        found = {}
        for inode, pids in pids_of.items():
            paths = [f"{self._proc}/{pid}/ns/net" for pid in pids]
            paths.extend(path for path, _name in bound.get(inode, ()))
            ip_name = next((name for path, name in bound.get(inode, ()) if path.startswith("/run/netns/")), None)
            container = None if inode == own else self._container(inode, pids)
            name = ip_name or (container.name if container else default_name(inode))
            namespace = Namespace(inode, name, container, tuple(sorted(pids)), own=inode == own)
            found[inode] = Found(namespace, tuple(paths))
        for gone in self._containers.keys() - found.keys():
            del self._containers[gone]
        return Enumeration(found, unreadable)

    def _bind_mounts(self, nsfs_device: int) -> dict[int, list[tuple[str, str]]]:
        """inode -> [(path, name)] of the namespace files bind-mounted in the known directories."""
        bound: dict[int, list[tuple[str, str]]] = {}
        for directory in self._bind_dirs:
            try:
                entries = os.listdir(directory)
            except OSError:
                continue
            for name in entries:
                path = os.path.join(directory, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                if stat.st_dev == nsfs_device:  # a file left behind by a failed `ip netns` is not a namespace
                    bound.setdefault(stat.st_ino, []).append((path, decode_text(os.fsencode(name))))
        return bound

    def _container(self, inode: int, pids: list[int]) -> Container | None:
        """The container or unit of the first of the namespace's processes that is in one (cached)."""
        if inode in self._containers:
            return self._containers[inode]
        container = None
        for pid in sorted(pids)[:OWNERS_CHECKED]:
            container = container_of(_cgroup(f"{self._proc}/{pid}/cgroup"))
            if container is not None:
                break
        if pids:  # a namespace with no process yet may get one later
            self._containers[inode] = container
        return container


def _cgroup(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return cgroup_path(file.read())
    except OSError:
        return None


def open_inside(found: Found, make: Callable[[], T]) -> T:
    """``make()`` run on a thread that has entered ``found``'s namespace (what it creates stays bound to it).

    Raises :class:`NamespaceUnavailable`: gone when no path refers to the namespace any more (its processes exited
    or a pid was reused for another namespace), refused when entering is not allowed."""
    outcome: list = []

    def enter() -> None:
        refused: OSError | None = None
        for path in found.paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except PermissionError as error:
                refused = error
                continue
            except OSError:
                continue
            try:
                if os.fstat(fd).st_ino != found.namespace.inode:
                    continue  # the pid now belongs to a process in another namespace
                _setns(fd, CLONE_NEWNET)
                outcome.append(make())
                return
            except PermissionError as error:
                refused = error
                break
            except Exception as error:  # handed to the caller's thread
                outcome.append(error)
                return
            finally:
                os.close(fd)
        if refused is not None:
            outcome.append(NamespaceUnavailable(NO_RIGHTS, gone=False))
        else:
            outcome.append(NamespaceUnavailable(f"network namespace {found.namespace.name} is gone", gone=True))

    thread = threading.Thread(target=enter, name=f"netns-{found.namespace.inode}", daemon=True)
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _libc_setns(fd: int, nstype: int) -> None:
    """``setns(2)`` where ``os.setns`` is missing (Python 3.11)."""
    import ctypes  # only here: 3 ms of start-up for every run otherwise

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


_setns: Callable[[int, int], None] = getattr(os, "setns", _libc_setns)
