"""Validate + export of a generated extract, as a ratio to the plain pandas CSV floor.

The floor is `pandas.read_csv(dtype=str)` + `to_csv` of the same file, measured in
the same run (machines here are noisy, so only ratios are reported). Each side
runs `--repeat` times; the best time of each is compared.

    python benchmarks/bench_validate_export.py [--rows 250000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from xl_pmpm import files
from xl_pmpm.sample import extract_csv, generate_extract
from xl_pmpm.workflow import export_import_file

MONTH = "2026-10"


def floor(src: Path, out: Path) -> None:
    pd.read_csv(src, dtype=str).to_csv(out / "floor.csv", index=False)


def ours(src: Path, out: Path, layout, book) -> int:
    report = files.read_tier_report(src, layout)
    done = export_import_file(
        report.table,
        out,
        layout,
        book,
        as_of=date(2026, 11, 5),
        at=datetime.now(),
        source=src.name,
        read_findings=report.findings,
    )
    return done.rows


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    layout, book = files.load_layout(), files.load_rate_book()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame = generate_extract(args.rows, MONTH, layout, book, mangle=False, below_minimum=False)
        src = tmp / "extract.csv"
        src.write_bytes(extract_csv(frame))
        rows = ours(src, tmp / "warm", layout, book)  # warm-up, and proof it exports
        t_floor = best_of(args.repeat, lambda: floor(src, tmp))
        n = iter(range(10**6))
        t_ours = best_of(args.repeat, lambda: ours(src, tmp / f"run{next(n)}", layout, book))
    result = {
        "benchmark": "validate+export vs read_csv(dtype=str)+to_csv",
        "rows": args.rows,
        "exported_rows": rows,
        "floor_seconds": round(t_floor, 3),
        "validate_export_seconds": round(t_ours, 3),
        "ratio": round(t_ours / t_floor, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
