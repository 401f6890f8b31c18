"""The container or systemd unit a process runs in, read from its cgroup path (never from a runtime's API)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from netwatch.backends.model.text import decode_text

SHORT_ID = 12
"""Hex digits of a container id shown (as ``docker ps`` shows them)."""


@dataclass(frozen=True, slots=True)
class Container:
    """A container (``runtime`` docker, podman, containerd, cri-o; ``pod``: the Kubernetes pod uid where the cgroup
    names one) or a systemd unit (``runtime`` systemd, ``id`` and ``name`` the unit's name)."""

    runtime: str
    id: str
    name: str
    pod: str | None = None


_ID = r"(?P<id>[0-9a-f]{64})"
_RUNTIMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docker", re.compile(rf"^docker-{_ID}\.scope$")),
    ("podman", re.compile(rf"^libpod-(?:conmon-)?{_ID}(?:\.scope)?$")),
    ("containerd", re.compile(rf"^cri-containerd-{_ID}\.scope$")),
    ("cri-o", re.compile(rf"^crio-(?:conmon-)?{_ID}(?:\.scope)?$")),
)
"""cgroup v2 / systemd-driver leaf names, by runtime."""
_POD = re.compile(r"pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$")
_BARE_ID = re.compile(rf"^{_ID}$")
_UNIT = re.compile(r"^[^/]+\.(?:service|scope)$")


def container_of(cgroup: str | None) -> Container | None:
    """The container or unit of cgroup path ``cgroup`` (v2, or a v1/hybrid controller's path), or None.

    Knows Docker (``docker-<id>.scope``, ``/docker/<id>``), Podman (``libpod-<id>.scope``), Kubernetes pods with
    containerd or CRI-O (``kubepods…pod<uid>…``, ``cri-containerd-<id>.scope``, ``crio-<id>.scope``, v1's
    ``/kubepods/<qos>/pod<uid>/<id>``), and systemd units (the innermost ``*.service`` or ``*.scope``)."""
    if not cgroup:
        return None
    parts = [part for part in cgroup.split("/") if part]
    pod = next((match["uid"].replace("_", "-") for part in parts if (match := _POD.search(part))), None)
    for depth, part in enumerate(reversed(parts)):
        for runtime, pattern in _RUNTIMES:
            match = pattern.match(part)
            if match:
                return _container(runtime, match["id"], pod)
        if depth == 0 and _BARE_ID.match(part):  # cgroup v1 / cgroupfs driver: /docker/<id>, /kubepods/.../<id>
            if pod:
                return _container("kubernetes", part, pod)
            if "docker" in parts[:-1]:
                return _container("docker", part, pod)
    unit = next((part for part in reversed(parts) if _UNIT.match(part)), None)
    return Container("systemd", unit, unit) if unit else None


def cgroup_path(proc_cgroup: bytes) -> str | None:
    """The cgroup path in the text of a /proc/<pid>/cgroup file: the v2 one, else (v1 or hybrid, where the v2 one
    is the root) the first v1 hierarchy's path that is not the root; None if there is none."""
    paths = [line.split(b":", 2) for line in proc_cgroup.split(b"\n") if line.count(b":") >= 2]
    v2 = next((path for number, controllers, path in paths if number == b"0" and not controllers), None)
    if v2 is not None and v2 != b"/":
        return decode_text(v2)
    fallback = next((path for _number, _controllers, path in paths if path not in (b"/", b"")), v2)
    return None if fallback is None else decode_text(fallback)


def _container(runtime: str, full_id: str, pod: str | None) -> Container:
    short = full_id[:SHORT_ID]
    return Container(runtime, short, f"{runtime}:{short}", pod)
