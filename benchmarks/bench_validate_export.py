"""Validate + export of a generated extract, as a ratio to the plain pandas CSV floor.

The extract is shaped like a real one (`benchmarks.sample.REAL_SHAPE`: 32 contracts
of Zipf-like sizes, names "Family, Given"). In-process; `bench_scale.py` measures the
same as whole commands, in alternated rounds.

The floor is `pandas.read_csv(dtype=str)` + `to_csv` of the same file, measured in
the same run (machines here are noisy, so only ratios are reported); pyarrow's
`read_csv` + `write_csv` of the same bytes is the physical limit. The three sides run
in `--repeat` alternated rounds (`benchmarks/rounds.py`): each figure is the median of
the rounds, with the load average at each round. Peak memory (RSS) of
one read + validate + export, and of the floor, is measured in a fresh child
process each (its VmHWM), so neither inherits the other's peak.

    python benchmarks/bench_validate_export.py [--rows 250000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.rounds import alternate, timed  # noqa: E402
from benchmarks.sample import REAL_SHAPE, extract_csv, generate_extract  # noqa: E402
from xl_pmpm.io import files  # noqa: E402
from xl_pmpm.io.workflow import export_import_file  # noqa: E402

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


def arrow(src: Path, out: Path) -> None:
    pacsv.write_csv(pacsv.read_csv(src), out / "arrow.csv")


def peak_rss_mb(which: str, src: Path, out: Path) -> float:
    """Peak RSS (MB) of a fresh process doing one `which` run ("ours" or "floor") on `src`."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(src), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def child(which: str, src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if which == "floor":
        floor(src, out)
    else:
        ours(src, out, files.load_layout(), files.load_rate_book())
    print(peak_rss_of_this_process_mb())


def peak_rss_of_this_process_mb() -> float:
    """VmHWM (this process image's own peak); ru_maxrss would carry the parent's over exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--child", nargs=3, metavar=("WHICH", "SRC", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        which, src, out = args.child
        child(which, Path(src), Path(out))
        return
    layout, book = files.load_layout(), files.load_rate_book()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame = generate_extract(
            args.rows, MONTH, layout, book, mangle=False, below_minimum=False, **REAL_SHAPE
        )
        src = tmp / "extract.csv"
        src.write_bytes(extract_csv(frame))
        rows = ours(src, tmp / "warm", layout, book)  # warm-up, and proof it exports
        n = iter(range(10**6))
        rounds = alternate(
            {
                "floor": lambda: timed(lambda: floor(src, tmp)),
                "ours": lambda: timed(lambda: ours(src, tmp / f"run{next(n)}", layout, book)),
                "arrow": lambda: timed(lambda: arrow(src, tmp)),
            },
            args.repeat,
        )
        rss_ours = peak_rss_mb("ours", src, tmp / "rss_ours")
        rss_floor = peak_rss_mb("floor", src, tmp / "rss_floor")
        size_mb = src.stat().st_size / 1e6
    result = {
        "benchmark": "validate+export vs read_csv(dtype=str)+to_csv",
        "rows": args.rows,
        "exported_rows": rows,
        "rounds": args.repeat,
        "load_average": rounds.loads,
        "floor_seconds": round(rounds.median("floor"), 3),
        "validate_export_seconds": round(rounds.median("ours"), 3),
        "pyarrow_limit_seconds": round(rounds.median("arrow"), 3),
        "ratio": round(rounds.ratio("ours", "floor"), 2),
        "ratio_to_pyarrow_limit": round(rounds.ratio("ours", "arrow"), 2),
        "file_mb": round(size_mb, 1),
        "peak_rss_mb": round(rss_ours),
        "floor_peak_rss_mb": round(rss_floor),
        "rss_ratio": round(rss_ours / rss_floor, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
