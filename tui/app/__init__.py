"""The Textual app: screens, widgets and styles; it renders what the view model hands it."""
