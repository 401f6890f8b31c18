"""Acting on what netwatch shows: who holds a port and whether it can be bound (ports), which destinations use up
the ephemeral ports (pressure), closing sockets (destroy). Reads sockets through the collector only."""
