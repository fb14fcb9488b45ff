"""Offline evaluation: protocols, metrics and reports."""
