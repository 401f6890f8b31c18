"""Acting on what netwatch shows: who holds a port and whether it can be bound (ports), closing sockets
(destroy). Reads sockets through the collector only."""
