"""Every file format shelf reads, in one place: records (CSV, JSON Lines, Parquet), the shops'
catalog feeds (Google Merchant Center XML or TSV, Shopify product CSV) and the benchmark formats
(``sequences.txt``, ``items.jsonl``, ``products.jsonl``, queries, qrels).

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
from shelf.formats.feeds import html_to_text, read_google_merchant, read_shopify
from shelf.formats.records import FORMATS, FileFormat, count_records, detect_format, read_records

__all__ = [
    "FORMATS",
    "FileFormat",
    "count_records",
    "detect_format",
    "html_to_text",
    "read_google_merchant",
    "read_item_texts",
    "read_products",
    "read_qrels",
    "read_queries",
    "read_records",
    "read_sequences",
    "read_shopify",
    "read_text_items",
]
