"""User names for uids, looked up once per uid (pwd) and cached."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str:
    """The login name of ``uid``, or ``str(uid)`` when the system has no entry for it (or no pwd module)."""
    try:
        import pwd
    except ImportError:  # not a POSIX system
        return str(uid)
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError, ValueError):
        return str(uid)
