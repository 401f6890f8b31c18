"""Map cgroup v2 ids (as sock_diag's INET_DIAG_CGROUP_ID gives them) to cgroup paths."""

from __future__ import annotations

import os

DEFAULT_MOUNTS = "/proc/self/mounts"


def find_cgroup2_root(mounts: str = DEFAULT_MOUNTS) -> str | None:
    """The mount point of the cgroup v2 hierarchy, or None when there is none."""
    try:
        with open(mounts, encoding="utf-8", errors="surrogateescape") as lines:
            for line in lines:
                fields = line.split()
                if len(fields) >= 3 and fields[2] == "cgroup2":
                    return fields[1].replace("\\040", " ")
    except OSError:
        return None
    return None


class CgroupPaths:
    """cgroup id -> path ("/", "/system.slice/sshd.service", ...) relative to the cgroup v2 root.

    A cgroup v2 id is the inode number of its directory under the cgroup2 mount. The table is built
    by walking that tree once, and rebuilt on a miss at most once per snapshot (see start_snapshot).
    """

    def __init__(self, root: str | None = None) -> None:
        self._root = root if root is not None else find_cgroup2_root()
        self._paths: dict[int, str] = {}
        self._may_refresh = True

    def start_snapshot(self) -> None:
        """Allow one more rebuild of the table (call once at the start of each snapshot)."""
        self._may_refresh = True

    def path_of(self, cgroup_id: int) -> str | None:
        """The cgroup path of ``cgroup_id``, or None if unknown (no cgroup2, or the cgroup is gone)."""
        path = self._paths.get(cgroup_id)
        if path is None and self._may_refresh and self._root is not None:
            self._may_refresh = False
            self._paths = self._walk(self._root)
            path = self._paths.get(cgroup_id)
        return path

    @staticmethod
    def _walk(root: str) -> dict[int, str]:
        """Every cgroup directory under ``root`` by inode (bounded by the tree; unreadable parts skipped)."""
        try:
            paths = {os.stat(root).st_ino: "/"}
        except OSError:
            return {}
        pending = [(root, "")]
        while pending:
            directory, relative = pending.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            child = f"{relative}/{entry.name}"
                            paths[entry.inode()] = child
                            pending.append((entry.path, child))
            except OSError:
                continue
        return paths
