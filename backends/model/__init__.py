"""The snapshot model: records, the name table, snapshots and what sources hand the collector."""
