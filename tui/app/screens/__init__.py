"""Screens pushed over the main view: help and process drill-down."""
