"""Who owns each socket: the /proc fd tables joined to socket inodes, and the process records."""
