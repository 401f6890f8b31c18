"""Who owns each socket: the /proc fd tables joined to socket inodes, and the process records.

:mod:`.resolver` (:class:`~.resolver.OwnerResolver`: the cache across refreshes and its staleness rules),
:mod:`.fd_tables` (one process's cached fd table), :mod:`.prefetch` (the cold scan in a forked child),
:mod:`.proc_files` (reading a process's /proc files, and what their errors mean), :mod:`.processes` (process
records), :mod:`.users` (user names).
"""
