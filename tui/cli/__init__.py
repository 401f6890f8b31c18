"""The command line and the script outputs (``--once``: table, JSON, CSV). Never imports Textual."""
