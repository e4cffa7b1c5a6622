"""`xl-pmpm unbilled` on three months of visits, as a ratio to `xl-pmpm visits` on the same files.

Generates three months of visits (`bench_visits.generate_visits`: invented data, the
same members every month, about 30 visits per member-month, 2 % of each file's visits
dated in the month before) and a ledger in which 97 % of the member-months are
exported, 1 % rejected and 0.5 % placeholders (the rest never exported). Then, each
command in a fresh process (`python -m xl_pmpm.cli ...`), in `--repeat` alternated
rounds (`benchmarks/rounds.py`; each figure the median of the rounds, with the load
average at each round):

- baseline: `xl-pmpm visits FILE --month M --out DIR` on each of the three files
  (the time of the three runs added up; peak RSS the largest of the three);
- `xl-pmpm unbilled F1 F2 F3 --ledger DB --as-of D --format json`, and the same with
  the text output;
- the physical limit: pyarrow `read_csv` + `write_csv` of the same three files.

Peak RSS is the child's own VmHWM (ru_maxrss would carry this process's peak over
exec). Prints JSON with both and the ratios.

    python benchmarks/bench_unbilled.py [--visits 1000000] [--repeat 2] [--per-member 30]
        [--data DIR]   # keep (or reuse) the generated files: they must match the options

`--per-member 4` gives 250,000 members a month at 1,000,000 visits: a statewide FI's
member count (its member-month sums are what `unbilled` keeps), with a file a
fifteenth of a statewide month's.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_visits import generate_visits
from rounds import alternate, arrow_limit

from xl_pmpm.io.ledger._db import open_ledger

MONTHS = ("2026-07", "2026-08", "2026-09")
AS_OF = "2026-11-20"  # July's window closed on 2026-10-29: lost; August and September open


# The child runs the command, then prints its own VmHWM: the peak of its process image.
# (ru_maxrss, from os.wait4 or getrusage, would carry the parent's peak over exec.)
CHILD = (
    "import sys\n"
    "from pathlib import Path\n"
    "from xl_pmpm.cli.app import main\n"
    "code = main(sys.argv[1:])\n"
    "status = Path('/proc/self/status').read_text().splitlines()\n"
    "hwm = [line for line in status if line.startswith('VmHWM:')]\n"
    "sys.stderr.write('VmHWM ' + hwm[0].split()[1] + '\\n')\n"
    "sys.exit(code)\n"
)


def run_child(argv: list[str]) -> dict:
    """Seconds, peak (MiB, VmHWM) and stdout of `xl-pmpm ARGV` in a fresh process."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"xl-pmpm {argv[0]} failed ({proc.returncode}): {proc.stderr}")
    kib = int(proc.stderr.rsplit("VmHWM ", 1)[1].split()[0])
    return {"seconds": elapsed, "peak_mib": kib / 1024, "stdout": proc.stdout}


def write_visits(frame: pd.DataFrame, path: Path) -> None:
    """The visits as a CSV, quoted where RFC 4180 needs it ("Family, Given" names)."""
    frame.to_csv(path, index=False)


def write_ledger(db: Path, files: list[Path], seed: int = 16) -> dict[str, int]:
    """Ledger entries for most member-months of the files (the ledger as exports leave it)."""
    rng = np.random.default_rng(seed)
    open_ledger(db).engine.dispose()  # an empty ledger with the ledger's own schema
    conn = sqlite3.connect(db)
    counts = {"exported": 0, "rejected": 0, "placeholder": 0, "none": 0}
    for month, path in zip(MONTHS, files, strict=True):
        visits = pd.read_csv(
            path, dtype=str, usecols=["Patient Number", "Contract"], engine="pyarrow"
        )
        members = visits.drop_duplicates("Patient Number")
        pick = rng.random(len(members))
        kind = np.select(
            [pick < 0.97, pick < 0.98, pick < 0.985],
            ["exported", "rejected", "placeholder"],
            "none",
        )
        for k in counts:
            counts[k] += int((kind == k).sum())
        rows = members[kind != "none"]
        kind = kind[kind != "none"]
        conn.executemany(
            "INSERT INTO exports (batch, patient_number, contract, month, directory, file_name, "
            "exported_at, line, tier, rate, sha256, status, placeholder) "
            "VALUES ('b', ?, ?, ?, '/x', 'f.csv', '2026-10-05T10:00:00', 2, 1, 146.45, 'h', ?, ?)",
            (
                (
                    pid,
                    contract,
                    month,
                    "rejected" if k == "rejected" else "exported",
                    int(k == "placeholder"),
                )
                for pid, contract, k in zip(
                    rows["Patient Number"], rows["Contract"], kind, strict=True
                )
            ),
        )
    conn.commit()
    conn.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=1_000_000, help="visits per month")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument(
        "--per-member",
        type=int,
        default=30,
        help="visits per member-month (members = visits / this)",
    )
    ap.add_argument(
        "--data",
        help="keep the generated files in this folder; files already there are reused",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(args.data or tmp)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        files = [tmp_dir / f"visits_{month}.csv" for month in MONTHS]
        db = tmp_dir / "ledger.sqlite3"
        ledger_counts = None
        if not (db.exists() and all(f.exists() for f in files)):
            for month, path in zip(MONTHS, files, strict=True):
                visits = generate_visits(args.visits, month, per_member=args.per_member)
                write_visits(visits, path)
            db.unlink(missing_ok=True)
            ledger_counts = write_ledger(db, files)
        made = time.perf_counter() - t

        def baseline() -> dict:
            runs = [
                run_child(["visits", str(f), "--month", m, "--out", str(tmp_dir / "reports")])
                for f, m in zip(files, MONTHS, strict=True)
            ]
            return {
                "seconds": sum(r["seconds"] for r in runs),
                "peak_mib": max(r["peak_mib"] for r in runs),
            }

        def unbilled(output: str) -> dict:
            argv = ["unbilled", *map(str, files), "--ledger", str(db), "--as-of", AS_OF]
            return run_child([*argv, "--format", output])

        rounds = alternate(
            {
                "visits": baseline,
                "json": lambda: unbilled("json"),
                "text": lambda: unbilled("text"),
                "arrow": lambda: arrow_limit(tmp_dir / "arrow", *files),
            },
            args.repeat,
        )
        base_s, base_rss = rounds.median("visits"), rounds.peak("visits")
        our_s, our_rss = rounds.median("json"), rounds.peak("json")
        text_s, text_rss = rounds.median("text"), rounds.peak("text")
        totals = json.loads(rounds.runs["json"][-1]["stdout"])["totals"]
        print(
            json.dumps(
                {
                    "visits_per_month": args.visits,
                    "members_per_month": args.visits // args.per_member,
                    "months": list(MONTHS),
                    "file_mb_each": round(files[0].stat().st_size / 1e6, 1),
                    "ledger_entries": ledger_counts,
                    "generate_s": round(made, 1),
                    "rounds": args.repeat,
                    "load_average": rounds.loads,
                    "visits_x3_s": round(base_s, 2),
                    "unbilled_s": round(our_s, 2),
                    "time_ratio": round(rounds.ratio("json", "visits"), 2),
                    "visits_peak_rss_mib": round(base_rss),
                    "unbilled_peak_rss_mib": round(our_rss),
                    "rss_ratio": round(our_rss / base_rss, 2),
                    "unbilled_text_s": round(text_s, 2),
                    "text_time_ratio": round(rounds.ratio("text", "visits"), 2),
                    "unbilled_text_peak_rss_mib": round(text_rss),
                    "pyarrow_limit_s": round(rounds.median("arrow"), 2),
                    "ratio_to_pyarrow_limit": round(rounds.ratio("json", "arrow"), 2),
                    "earned_member_months": totals["earned_member_months"],
                    "recoverable_member_months": totals["recoverable_member_months"],
                    "lost_member_months": totals["lost_member_months"],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
