"""Ingestion: file readers, validation and reports, dedupe, pseudonymisation, benchmark loaders."""

from shelf.ingest.importer import ImportReport, import_events, import_items, store_events
from shelf.ingest.pseudonym import Pseudonymizer

__all__ = ["ImportReport", "Pseudonymizer", "import_events", "import_items", "store_events"]
