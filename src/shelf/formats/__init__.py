"""Every file format shelf reads, in one place: records (CSV, JSON Lines, Parquet) and the
benchmark formats (``sequences.txt``, ``items.jsonl``, ``products.jsonl``, queries, qrels).

Readers turn files into plain records or domain types and name the file, row and field of any
problem; they store nothing (that is :mod:`shelf.ingest`).
"""

from shelf.formats.benchmarks import (
    read_item_texts,
    read_products,
    read_qrels,
    read_queries,
    read_sequences,
    read_text_items,
)
from shelf.formats.records import FileFormat, count_records, detect_format, read_records

__all__ = [
    "FileFormat",
    "count_records",
    "detect_format",
    "read_item_texts",
    "read_products",
    "read_qrels",
    "read_queries",
    "read_records",
    "read_sequences",
    "read_text_items",
]
