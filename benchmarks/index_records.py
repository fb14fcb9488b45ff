"""Writes the index of benchmarks/results/ at the end of docs/benchmarks.md: each record's file,
the date and commit it was added, and what it shows (its recorded command, or the first line of
its README or Markdown). Run from the repository root: python benchmarks/index_records.py"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "## Index of records"


def first_commit(path: Path) -> tuple[str, str]:
    out = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%h %cs", "--", str(path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    ).stdout.split()  # fmt: skip
    return (out[-2], out[-1]) if len(out) >= 2 else ("uncommitted", "")


def what(path: Path) -> str:
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            return ""
        command = doc.get("command") if isinstance(doc, dict) else None
        if isinstance(command, dict):
            command = " ".join(f"{k}={v}" for k, v in command.items() if v is not None)
        return str(command or "")[:160]
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return lines[0].lstrip("# ")[:160] if lines else ""


def main() -> None:
    rows = ["| file | added | commit | what |", "|---|---|---|---|"]
    files = sorted((ROOT / "benchmarks" / "results").rglob("*"))
    files = [p for p in [ROOT / "benchmarks" / "search_homedepot.json", *files] if p.is_file()]
    for path in files:
        commit, day = first_commit(path)
        text = what(path).replace("|", "\\|")
        rows.append(f"| `{path.relative_to(ROOT)}` | {day} | {commit} | {text} |")
    page = ROOT / "docs" / "benchmarks.md"
    body = page.read_text().split(MARK)[0].rstrip()
    page.write_text(f"{body}\n\n{MARK}\n\nWritten by `python benchmarks/index_records.py`.\n\n"
                    + "\n".join(rows) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
