"""Filling the workbook with an extract, as a ratio to XlsxWriter writing the same cells.

Generates an extract (`benchmarks.sample.generate_extract`, invented data) and fills the
macro-enabled workbook with it through `template.build_template` (the public
function; All plus one sheet per contract, each an Excel Table with formats, data
validation, conditional formats and frozen panes, plus the VBA project). The
baseline (the fair floor) writes the same report cells (values, engine formulas,
number formats) of the same sheets with XlsxWriter in its `constant_memory` mode, with
its formula preparation cached: XlsxWriter otherwise re-scans each formula (about 30
regular-expression substitutions per `write_formula`) for every row, though every row's
formula text is the same, which made the old floor say nothing about the fill. Each runs in its own
subprocess, so each one's peak RSS (ru_maxrss) is its own; the extract is generated
in both and not timed.

    python benchmarks/bench_workbook_fill.py [--rows 250000] [--repeat 3] [--values-floor]

The fill writes the report sheets' data rows as XML itself (`xl_pmpm.workbook.sheet_xml`):
each formula column as one shared formula, values from the DataFrame's columns, no cell
object per cell. `--values-floor` also times XlsxWriter writing the values alone (no
formula cells), a floor the fill cannot reach by writing formulas faster.

Targets (issue 12): the fill within 1.0x the floor's time at 250k rows, and under 1 GB.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.sample
from benchmarks.rounds import alternate  # noqa: E402

MONTH = "2026-10"
CHILDREN = ("fill", "xlsxwriter", "values", "zip")


def _extract(rows: int):
    from benchmarks import sample
    from xl_pmpm.io import files

    layout, book = files.load_layout(), files.load_rate_book()
    return layout, book, sample.generate_extract(rows, MONTH, layout, book)


def fill_workbook(rows: int, out: Path) -> float:
    """Seconds `template.build_template` takes to write the filled workbook."""
    from xl_pmpm.workbook import template

    layout, book, extract = _extract(rows)
    start = time.perf_counter()
    template.build_template(out, layout, book, rows=extract)
    return time.perf_counter() - start


def write_with_xlsxwriter(rows: int, out: Path, formulas: bool = True) -> float:
    """Seconds XlsxWriter (constant_memory, formulas prepared once) takes for the same cells.

    `formulas=False`: the formula cells left out (a floor for the values alone).
    """
    import xlsxwriter

    from benchmarks import sample
    from xl_pmpm.workbook import template

    layout, _, extract = _extract(rows)
    contract = extract[layout.name_of("contract")].fillna("").astype(str).str.strip()
    names = template.report_sheet_names(sorted(sample.CONTRACTS))
    start = time.perf_counter()
    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    formats: dict[str, object] = {}
    for sheet, subset in [("All", extract)] + [(names[c], extract[contract == c]) for c in names]:
        ws = wb.add_worksheet(sheet)
        # The fair floor: each distinct formula text prepared once, not once per row.
        ws._prepare_formula = functools.lru_cache(maxsize=None)(ws._prepare_formula)
        header, data, number_formats = template.report_rows(layout, sheet, subset)
        cell_formats = [
            formats.setdefault(f, wb.add_format({"num_format": f}))
            if (f := number_formats.get(h))
            else None
            for h in header
        ]
        ws.write_row(0, 0, header)
        for r, values in enumerate(data, start=1):
            for c, value in enumerate(values):
                fmt = cell_formats[c]
                if value is None:
                    if fmt is not None:
                        ws.write_blank(r, c, None, fmt)
                elif isinstance(value, str) and value.startswith("="):
                    if formulas:
                        ws.write_formula(r, c, value, fmt)
                elif isinstance(value, str):
                    ws.write_string(r, c, value, fmt)
                else:
                    ws.write_number(r, c, value, fmt)
    wb.close()
    return time.perf_counter() - start


def zip_same_parts(rows: int, tmp: Path, out: Path) -> float:
    """Seconds to write the fill's own final bytes: its parts, read from files on disk,
    zipped the way the fill zips them (deflate, same order). The floor of any writer of
    this workbook: what is left of the fill's time above it is making the XML."""
    import zipfile

    from xl_pmpm.workbook.package import ZIP_DATE

    filled = tmp / "filled.xlsm"
    fill_workbook(rows, filled)  # not timed
    parts = tmp / "parts"
    names = []
    with zipfile.ZipFile(filled) as source:
        for i, info in enumerate(source.infolist()):
            path = parts / str(i)
            path.parent.mkdir(exist_ok=True)
            with source.open(info) as src, open(path, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            names.append((info.filename, path))
    start = time.perf_counter()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, path in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, target.open(info, "w", force_zip64=True) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    return time.perf_counter() - start


def _child(which: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("filled.xlsm" if which == "fill" else "same_cells.xlsx")
        if which == "zip":
            out = Path(tmp) / "same_parts.xlsm"
            seconds = zip_same_parts(rows, Path(tmp), out)
        elif which == "fill":
            seconds = fill_workbook(rows, out)
        else:
            seconds = write_with_xlsxwriter(rows, out, formulas=which == "xlsxwriter")
        size = out.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "bytes": size}))


def _run(which: str, rows: int) -> dict:
    # The child imports xl_pmpm from this checkout, installed or not.
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="alternated rounds (the median counts)"
    )
    parser.add_argument(
        "--values-floor",
        action="store_true",
        help="also time XlsxWriter writing the values alone (no formula cells)",
    )
    parser.add_argument(
        "--zip-floor",
        action="store_true",
        help="time zipping the fill's own parts (its final bytes) instead of XlsxWriter",
    )
    parser.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.rows)
        return 0
    if args.zip_floor:
        which = ["fill", "zip"]
    else:
        which = ["fill", "xlsxwriter"] + (["values"] if args.values_floor else [])
    rounds = alternate({w: functools.partial(_run, w, args.rows) for w in which}, args.repeat)
    print(
        f"rows: {args.rows:,}, medians of {args.repeat} alternated rounds; "
        f"load average {rounds.load()}"
    )
    fill = rounds.runs["fill"][-1]
    print(
        f"fill (template.build_template): {rounds.median('fill'):.1f} s, "
        f"peak RSS {rounds.peak('fill'):.0f} MiB, {fill['bytes'] / 2**20:.1f} MiB file"
    )
    if args.zip_floor:
        print(f"zipping the same parts:         {rounds.median('zip'):.1f} s")
        print(f"ratio (fill / same bytes zipped): {rounds.ratio('fill', 'zip'):.2f}x")
        return 0
    base = rounds.runs["xlsxwriter"][-1]
    print(
        f"floor (XlsxWriter, cached):     {rounds.median('xlsxwriter'):.1f} s, "
        f"peak RSS {rounds.peak('xlsxwriter'):.0f} MiB, {base['bytes'] / 2**20:.1f} MiB file"
    )
    ratio = rounds.ratio("fill", "xlsxwriter")
    print(f"ratio (fill / fair floor): {ratio:.2f}x  (target <= 1.0x, peak < 1024 MiB)")
    if args.values_floor:
        print(
            f"XlsxWriter, values alone:      {rounds.median('values'):.1f} s, "
            f"peak RSS {rounds.peak('values'):.0f} MiB; fill / it: "
            f"{rounds.ratio('fill', 'values'):.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
