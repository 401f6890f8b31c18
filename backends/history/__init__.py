"""Memory across snapshots: what changed, rates, first-seen times, lingering closed sockets, events."""
