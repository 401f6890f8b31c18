"""Socket sources: netlink sock_diag (primary), /proc/net and psutil (fallbacks). They return socket records."""
