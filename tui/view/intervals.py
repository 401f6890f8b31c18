"""The one range of refresh intervals: what ``--interval``, the settings file and the ``+``/``-`` keys accept."""

INTERVAL_RANGE = (0.05, 3600.0)
"""Seconds between refreshes, lowest and highest."""

INTERVAL_STEPS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""The intervals ``+`` and ``-`` step through: the whole range."""
