"""netwatch's data layer: socket sources, the snapshot model, the diff and the filter language.

Never imports the UI (``netwatch.tui``) or Textual.
"""
