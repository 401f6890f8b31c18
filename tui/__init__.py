"""netwatch's command line and Textual app. Importing this package does not import Textual."""
