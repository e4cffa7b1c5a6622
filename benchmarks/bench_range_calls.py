"""Range calls (and calls of all kinds) each ribbon action makes, at 1,000 and 100,000 rows.

Every workbook button (Load Extract, Refresh Flags, Delete Rows, Defer Rows,
Restore, Validate, Export) runs its script against a real ``xw.Book`` built by
xlwings' remote engine from a payload (tests/harness/excel_harness.py), with every
Range the script obtains counted (``calls_N``), and every call of any kind that
crosses to Excel (``all_calls_N``: ranges, sheet lookups and names, copies, tables).
The ratio of interest is 100k / 1k: a script whose range calls grow with the rows
would make Excel crawl on a real extract.
The engine's own chunk ranges (xlwings splitting a write above 100,000 cells)
are counted apart: they are not the script's doing.

    python benchmarks/bench_range_calls.py [--rows 1000 100000]

The remote engine is used under the PolyForm Noncommercial licence, as in the
tests (see tests/conftest.py). At 100,000 rows the run takes several minutes:
the harness replays each action's writes in Python.
"""

from __future__ import annotations

import os

# Before the first `import xlwings`: the remote engine is the PRO part of xlwings.
os.environ["XLWINGS_LICENSE_KEY"] = "noncommercial"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "harness")]

from excel_harness import ExcelHarness, mark_actions  # noqa: E402

from benchmarks import sample  # noqa: E402
from xl_pmpm.excel import frontend as fe  # noqa: E402
from xl_pmpm.io import files  # noqa: E402
from xl_pmpm.workbook import template  # noqa: E402

MONTH = "2026-10"
AS_OF = date(2026, 11, 5)
MARKS = {4: "Delete", 6: "Delete", 9: "Delete", 12: "Defer", 13: "Defer"}
ACTIONS: list[tuple[str, Callable[[Any], None]]] = [
    ("load", fe.load_extract),
    ("refresh", fe.refresh_flags),
    ("delete", fe.delete_rows),
    ("defer", fe.defer_rows),
    ("restore", fe.restore_rows),
    ("validate", fe.validate),
    ("export", fe.export),
]


def starting_payload(excel: ExcelHarness, folder: Path, rows: int) -> dict:
    """The real template as a biller opens it: settings filled, the extract on disk."""
    layout, book = files.load_layout(), files.load_rate_book()
    extract = sample.generate_extract(rows, MONTH, layout, book)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "extract.csv"
    path.write_bytes(sample.extract_csv(extract))
    data = template.workbook_bytes(layout, book, billing_month=date(2026, 10, 1), as_of=AS_OF)
    payload = excel.workbook_payload(data, formula_values={"At risk": "", "Dollar effect": 0})
    settings = next(s for s in payload["sheets"] if s["name"] == "Settings")["values"]
    labels = [row[0] for row in settings]
    for label, value in (
        ("Extract file", str(path)),
        ("Export folder", str(folder / "exports")),
        ("Archive folder", str(folder / "archive")),
    ):
        settings[labels.index(label)][1] = value
    return payload


def count_flow(excel: ExcelHarness, folder: Path, rows: int) -> dict[str, dict[str, float]]:
    """{action: {"range_calls", "engine_chunks", "seconds"}} for one pass of the month."""
    payload = starting_payload(excel, folder, rows)
    out: dict[str, dict[str, float]] = {}
    for name, script in ACTIONS:
        if name == "delete":
            payload = mark_actions(payload, MARKS)
        book = excel.open_book(payload)
        started = time.perf_counter()
        with excel.count_range_calls() as calls:
            script(book)
        seconds = time.perf_counter() - started
        chunks = sum(isinstance(c[1], tuple) and len(c[1]) == 4 for c in calls.calls)
        out[name] = {
            "calls": calls.total - chunks,
            "range_calls": calls.count - chunks,
            "engine_chunks": chunks,
            "seconds": round(seconds, 2),
        }
        payload = excel.replay(payload, book.json())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000, 100_000])
    args = ap.parse_args()
    excel = ExcelHarness()
    results: dict[int, dict[str, dict[str, float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rows in args.rows:
                results[rows] = count_flow(excel, Path(tmp) / str(rows), rows)
                print(f"{rows:,} rows done", file=sys.stderr, flush=True)
    finally:
        excel.close()
    small, big = min(results), max(results)
    table = {
        name: {
            **{f"all_calls_{n}": results[n][name]["calls"] for n in sorted(results)},
            **{f"calls_{n}": results[n][name]["range_calls"] for n in sorted(results)},
            **{f"chunks_{n}": results[n][name]["engine_chunks"] for n in sorted(results)},
            "ratio": round(
                results[big][name]["range_calls"] / max(results[small][name]["range_calls"], 1),
                2,
            ),
        }
        for name, _ in ACTIONS
    }
    print(
        json.dumps(
            {"benchmark": "range calls per ribbon action", "rows": sorted(results), **table},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
