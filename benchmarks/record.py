"""What the benchmark scripts record with their results: the command that ran and the
machine it ran on (cores, platform, load average); and how they hand the results out (printed
as JSON, and written to ``--out`` when given)."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def run_header() -> dict[str, Any]:
    """``command`` and ``machine`` entries for a result document, taken now."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg": os.getloadavg(),
        },
    }


def emit(doc: dict[str, Any], out: Path | None) -> None:
    """Print ``doc`` as JSON and, with ``out``, write it there (folders made as needed)."""
    text = json.dumps(doc, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
