"""The refresh pipeline and the view model: frames, rows, formatting. No Textual (Rich only for safe text)."""
