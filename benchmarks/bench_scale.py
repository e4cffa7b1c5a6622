"""Validate and export at Excel's scale, whole process, against the pandas CSV floor.

For each row count (default 10k, 100k, 250k and 1,048,575, Excel's sheet limit
less the header) one extract is generated, then each of these runs as a fresh
process, `--repeat` rounds, each round running every side once, the order reversed every
other round (`rounds.alternate`); a side's figure is its median wall time and largest peak
RSS, a ratio the median of the rounds' ratios (the two runs of a round share its load),
with the load average at the start of each round:

- floor: ``python -c "pandas.read_csv(src, dtype=str).to_csv(out, index=False)"``,
  the plainest way to read and write the same file with pandas;
- arrow: pyarrow's ``read_csv`` (every column text) + ``write_csv`` of the same file,
  the physical limit;
- ``xl-pmpm validate FILE``;
- ``xl-pmpm export FILE --out DIR --no-ledger``;
- with ``--ledger``, also ``xl-pmpm export FILE --out DIR`` (the default export: its
  ledger a new SQLite file in DIR, checked and recorded).

Peak RSS is the child's own ``ru_maxrss`` from ``wait4``, interpreter start-up
included, for the floor as for xl-pmpm. Ratios are against the floor of the
same size in the same run.

    python benchmarks/bench_scale.py [--rows 10000 100000 250000 1048575] [--repeat 3]
        [--code PATH]   # run another checkout's xl_pmpm (to measure before/after)
        [--data DIR]    # keep the generated extracts there between runs
        [--ledger]      # also the export with the ledger (the default `xl-pmpm export`; its
                        # ledger a new SQLite file beside the output, never the agency's)
        [--cpu]         # CPU seconds of each process instead of wall time (a shared machine)
        [--shape real|quoted1|plain]  # the extract's shape (SHAPES; default real)
        [--baseline PATH]  # another checkout's export, run right before this one's
    python benchmarks/bench_scale.py --startup [--repeat 7] [--code PATH]

``--startup`` measures start-up instead: the CPU time (user + system, the child's own
from ``wait4``) of ``xl-pmpm validate`` of a 1-row file (the bundled sample's header
and first row) against ``python -c "import pandas"``: the median of ``--repeat``
alternated pairs, with the load average at each.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.rounds import alternate, quiet  # noqa: E402
from benchmarks.sample import REAL_SHAPE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MONTH = "2026-10"
AS_OF = "2026-11-05"
EXCEL_ROWS = 1_048_575  # a sheet's 1,048,576 rows, less the header
FLOOR = (
    "import sys, pandas as pd; pd.read_csv(sys.argv[1], dtype=str).to_csv(sys.argv[2], index=False)"
)
# The physical limit: Arrow reading and writing the same bytes (its writer quotes every text).
ARROW = (
    "import csv, sys, pyarrow as pa, pyarrow.csv as c; "
    "names = next(csv.reader(open(sys.argv[1], encoding='utf-8', newline=''))); "
    "t = c.read_csv(sys.argv[1], convert_options=c.ConvertOptions("
    "column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)); "
    "c.write_csv(t, sys.argv[2])"
)
# Shapes of extract (benchmarks/sample.py's generator): a real one has 32 contracts of Zipf-like
# sizes and every name "Family, Given" (a value to quote on each line).
SHAPES = {
    "real": REAL_SHAPE,
    "quoted1": {"contracts": 32, "comma_names": 0.01},
    "plain": {"contracts": 4, "comma_names": 0.0},
}


def make_extract(rows: int, folder: Path, shape: str = "real") -> Path:
    """The generated extract of `rows` rows (made once, kept in `folder`).

    Made in a child process: this one stays small, so no child inherits its pages.
    """
    # The shape's settings in the name: a file kept from another version of a shape is not
    # taken for this one.
    tag = hashlib.sha256(repr(sorted(SHAPES[shape].items())).encode()).hexdigest()[:8]
    path = folder / f"extract_{shape}-{tag}_{rows}.csv"
    if not path.exists():
        make = (
            "import sys; from pathlib import Path; "
            "from benchmarks.sample import extract_csv, generate_extract; "
            "from xl_pmpm.io import files; "
            "layout, book = files.load_layout(), files.load_rate_book(); "
            f"frame = generate_extract({rows}, '{MONTH}', layout, book, mangle=False, "
            f"below_minimum=False, **{SHAPES[shape]!r}); "
            "Path(sys.argv[1]).write_bytes(extract_csv(frame))"
        )
        tmp = path.with_suffix(".part")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", make, str(tmp)], env=env, check=True, cwd=folder)
        tmp.rename(path)
    return path


def run(
    cmd: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,), cpu: bool = False
) -> tuple[float, float]:
    """Wall seconds (CPU seconds with `cpu`) and peak RSS (MiB) of one fresh process
    running `cmd` in `cwd`.

    (`python -m` puts its folder first on sys.path: run away from any checkout.)
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err[-2000:]}")
    seconds = usage.ru_utime + usage.ru_stime if cpu else wall
    return seconds, usage.ru_maxrss / 1024  # kB on Linux


def measure_startup(code: Path, repeat: int, work: Path) -> dict:
    """CPU seconds of `xl-pmpm validate` of a 1-row file vs `import pandas`: the median of
    `repeat` alternated pairs (`benchmarks/rounds.py`), with the load at each.

    The package's bytecode is compiled first, as `pip install` does: a checkout run with
    PYTHONDONTWRITEBYTECODE would otherwise compile every module it imports, each run.
    """
    compileall.compile_dir(code / "xl_pmpm", quiet=1)
    sample = (code / "xl_pmpm" / "data" / "sample_tier_report.csv").read_bytes()
    src = work / "one_row.csv"
    src.write_bytes(b"".join(sample.splitlines(keepends=True)[:2]))
    env = {**os.environ, "PYTHONPATH": str(code)}
    sides = {
        "import_pandas": ([sys.executable, "-c", "import pandas"], quiet(env)),
        "validate": ([sys.executable, "-m", "xl_pmpm.cli", "validate", str(src)], env),
    }
    rounds = alternate(
        {
            side: functools.partial(
                lambda cmd, env: {"seconds": run(cmd, env, work, cpu=True)[0]}, *how
            )
            for side, how in sides.items()
        },
        repeat,
    )
    return {
        "import_pandas_cpu_s": round(rounds.median("import_pandas"), 3),
        "validate_cpu_s": round(rounds.median("validate"), 3),
        "ratio": round(rounds.ratio("validate", "import_pandas"), 2),
        "pairs": repeat,
        "load_average": rounds.loads,
    }


def command_side(
    command: Callable[[int], list[str]],
    env: dict[str, str],
    work: Path,
    ok: tuple[int, ...] = (0,),
    cpu: bool = False,
    leaves: Path | None = None,
) -> Callable[[], dict]:
    """A side for `alternate`: `command(n)` (n = 0, 1, ... its runs) run once, a fresh process
    in `work`: {"seconds", "peak_mib"} (`run`). `leaves`: a file the run writes, removed
    after it (a copy of the whole extract: its pages are not left for the next side)."""
    made = itertools.count()

    def once() -> dict:
        seconds, peak = run(command(next(made)), env, work, ok=ok, cpu=cpu)
        if leaves is not None:
            leaves.unlink(missing_ok=True)
        return {"seconds": seconds, "peak_mib": peak}

    return once


def measure(
    rows: int,
    src: Path,
    code: Path,
    repeat: int,
    work: Path,
    ledger: bool = False,
    baseline: Path | None = None,
    cpu: bool = False,
) -> dict:
    """Each side once per round, the rounds alternated (`rounds.alternate`: floor, arrow,
    xl-pmpm sides, and with `baseline` that checkout's export beside this one's); a side's
    seconds the median of its runs, a ratio the median of the rounds' ratios."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("XL_PMPM_LEDGER", None)  # the ledger is the new one in the export's folder
    cli = [sys.executable, "-m", "xl_pmpm.cli"]
    month = ["--month", MONTH, "--as-of", AS_OF]

    copy = work / "copy.csv"

    def export(folder: str) -> Callable[[int], list[str]]:
        out = work / folder
        return lambda n: (
            [*cli, "export", str(src), "--out", f"{out}_{rows}_{n}", "--no-ledger"] + month
        )

    def export_ledger(n: int) -> list[str]:
        # a new ledger each run (never the agency's)
        book = work / f"ledger_{rows}_{n}.sqlite3"
        return [
            *cli,
            "export",
            str(src),
            "--out",
            str(work / f"ledger_{rows}_{n}"),
            "--ledger",
            str(book),
            *month,
        ]

    sides = {  # the floor and the limit: each a copy of the extract, removed after each run
        name: command_side(
            lambda n, script=script: [sys.executable, "-c", script, str(src), str(copy)],
            quiet(env),
            work,
            cpu=cpu,
            leaves=copy,
        )
        for name, script in (("floor", FLOOR), ("arrow", ARROW))
    }
    # validate exits 1 above 10 MB (file-too-large: an error the export cures)
    sides["validate"] = command_side(
        lambda n: [*cli, "validate", str(src), *month], env, work, ok=(0, 1), cpu=cpu
    )
    if ledger:
        sides["export_ledger"] = command_side(export_ledger, env, work, cpu=cpu)
    if baseline is not None:
        old = {**env, "PYTHONPATH": str(baseline)}
        sides["export_baseline"] = command_side(export("base"), old, work, cpu=cpu)
    sides["export"] = command_side(export("export"), env, work, cpu=cpu)
    rounds = alternate(sides, repeat)
    out = {
        "rows": rows,
        "file_mb": round(src.stat().st_size / 1e6, 1),
        "rounds": repeat,
        "load_average_1min": rounds.loads,
    }
    for side in sides:
        out[f"{side}_s"] = round(rounds.median(side), 2)
        out[f"{side}_peak_mib"] = round(rounds.peak(side))
        if side != "floor":
            out[f"{side}_ratio"] = round(rounds.ratio(side, "floor"), 2)
    if baseline is not None:
        out["export_vs_baseline"] = round(rounds.ratio("export", "export_baseline"), 2)
    out["export_vs_arrow"] = round(rounds.ratio("export", "arrow"), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 250_000, EXCEL_ROWS])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout whose xl_pmpm to run")
    ap.add_argument("--data", type=Path, help="folder to keep generated extracts in")
    ap.add_argument("--ledger", action="store_true", help="also export with the ledger")
    ap.add_argument("--startup", action="store_true", help="validate of a 1-row file, CPU")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="real", help="extract's shape")
    ap.add_argument("--baseline", type=Path, help="another checkout's export, alternated")
    ap.add_argument(
        "--cpu", action="store_true", help="CPU seconds (user + system) instead of wall time"
    )
    args = ap.parse_args()
    if args.startup:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(measure_startup(args.code.resolve(), args.repeat, Path(tmp))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        results = []
        for rows in args.rows:
            src = make_extract(rows, data, args.shape)
            base = args.baseline.resolve() if args.baseline else None
            results.append(
                measure(
                    rows,
                    src,
                    args.code.resolve(),
                    args.repeat,
                    Path(tmp),
                    args.ledger,
                    base,
                    cpu=args.cpu,
                )
            )
            print(json.dumps(results[-1]), flush=True)
    sides = [s for s in ("validate", "export", "export_ledger") if f"{s}_s" in results[0]]
    heads = " | ".join(f"{s} | {s} MiB" for s in sides)
    print(f"| rows | MB | floor s | floor MiB | {heads} |")
    print("|---" * (4 + 2 * len(sides)) + "|")
    for r in results:
        cells = [f"{r[f'{s}_ratio']}× ({r[f'{s}_s']} s) | {r[f'{s}_peak_mib']}" for s in sides]
        print(
            f"| {r['rows']:,} | {r['file_mb']} | {r['floor_s']} | {r['floor_peak_mib']} | "
            + " | ".join(cells)
            + " |"
        )


if __name__ == "__main__":
    main()
