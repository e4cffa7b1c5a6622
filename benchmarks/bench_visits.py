"""`xl-pmpm visits` as a whole command against DuckDB doing the same, from the CSV to a CSV.

Generates a month of visits shaped like a real extract (benchmarks/sample.py: 32 contracts of
Zipf-like sizes, names "Family, Given"; about 30 visits per member, 2 % of visits outside
the month), writes it to a CSV, then runs in alternated rounds, each side a fresh process
(wall time, peak RSS from wait4):

- ``xl-pmpm visits FILE --month M --out DIR`` (read, aggregate, write, validate);
- DuckDB: the same sums per member and contract from the CSV (every column text, trimmed),
  written to a CSV by ``COPY``, in ``python -c`` (only duckdb imported);
- arrow: pyarrow ``read_csv`` + ``write_csv`` of the visits file, the physical limit.

Each round runs every side once, the order reversed every other round
(`rounds.alternate`): a side's figure is the median of its rounds (and its largest peak), a
ratio the median of the rounds' ratios, with the load average at the start of each round;
``--cpu`` gives CPU seconds (user + system of each process) instead of wall time. The
package's bytecode is compiled first, as ``pip install`` does (a checkout run with
PYTHONDONTWRITEBYTECODE would otherwise compile every module it imports, each run).

    python benchmarks/bench_visits.py [--visits 2000000] [--repeat 3] [--data DIR] [--cpu]
        [--code PATH]  # another checkout's xl_pmpm
        [--baseline PATH]  # and an older checkout's, in the same rounds
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bench_scale import ARROW, command_side  # noqa: E402 (this folder)

from benchmarks.rounds import alternate, quiet
from benchmarks.sample import (
    AGENCY_ID,
    OFFICE_ID,
    contract_names,
    contract_shares,
    member_names,
)
from xl_pmpm.io.visits_reader import load_mapping

ROOT = Path(__file__).resolve().parent.parent
MONTH = "2026-10"
STATUS_WORDS = np.array(["Billed", "Confirmed", "Unconfirmed", "Scheduled"])
# In the kept file's name: a folder of visits made before the names were a member's own
# (`member_names(distinct=True)`) is not taken for this shape.
SHAPE = "named"


def generate_visits(
    n: int,
    month: str,
    seed: int = 2443,
    per_member: int = 30,
    contracts: int = 32,
    comma_names: float = 1.0,
) -> pd.DataFrame:
    """`n` invented visits of `month`, one row each, all text (vectorized, no row loop),
    shaped like a real extract (benchmarks/sample.py's contracts and names)."""
    rng = np.random.default_rng(seed)
    members = max(1, n // per_member)
    ids = np.char.zfill(rng.choice(10**9, size=members, replace=False).astype(str), 10)
    contract = rng.choice(contracts, size=members, p=contract_shares(contracts, rng))
    names = member_names(rng, members, comma_names, distinct=True)
    who = rng.integers(0, members, n)
    start = pd.Period(month, freq="M").start_time
    days = rng.integers(0, 31, n) - np.where(rng.random(n) < 0.02, 40, 0)  # 2 % outside
    # Formatted once per distinct day and hour (a statewide month is 15M rows).
    distinct_days, day_of = np.unique(days, return_inverse=True)
    day_text = (start + pd.to_timedelta(distinct_days, unit="D")).strftime("%Y-%m-%d")
    dates = day_text.to_numpy()[day_of]
    quarters = rng.integers(4, 49, n)  # 1 to 12 hours in quarter hours
    status = STATUS_WORDS[rng.choice(4, size=n, p=[0.85, 0.07, 0.04, 0.04])]
    return pd.DataFrame(
        {
            "Agency ID": AGENCY_ID,
            "Office ID": OFFICE_ID,
            "Patient Number": ids[who],
            "Patient Name": names[who],
            "Contract": np.array(contract_names(contracts))[contract][who],
            "Visit Date": dates,
            "Hours": np.char.mod("%.2f", np.arange(49) / 4.0)[quarters],
            "Status": status,
        }
    )


def duckdb_query(mapping) -> str:
    """The aggregation in DuckDB's SQL, straight from the CSV (every column text, trimmed):
    hours per member and contract by status class in the month, visits counted."""
    col = mapping.columns
    billed = [w for w, s in mapping.statuses.items() if s == "billed"]
    unbilled = [w for w, s in mapping.statuses.items() if s == "confirmed_unbilled"]
    start = pd.Period(MONTH, freq="M").start_time.date()
    end = (pd.Period(MONTH, freq="M") + 1).start_time.date()
    status = f'lower(trim("{col["status"]}"))'
    hours = f'CAST(trim("{col["hours"]}") AS DOUBLE)'
    day = f"""strptime(trim("{col["visit_date"]}"), '%Y-%m-%d')"""
    return f"""
        SELECT trim("{col["patient_number"]}") AS member, trim("{col["contract"]}") AS contract,
               sum(CASE WHEN {status} IN {tuple(billed)!r} THEN {hours} ELSE 0 END) AS billed,
               sum(CASE WHEN {status} IN {tuple(unbilled)!r} THEN {hours} ELSE 0 END) AS unbilled,
               count(*) AS visits
        FROM read_csv(getvariable('src'), all_varchar = true)
        WHERE {day} >= DATE '{start}' AND {day} < DATE '{end}'
        GROUP BY ALL
    """


DUCKDB = (
    "import sys, duckdb; con = duckdb.connect(); "
    "con.execute('SET enable_progress_bar = false'); "
    "con.execute('SET VARIABLE src = ?', [sys.argv[1]]); "
    "con.execute(f\"COPY ({sys.argv[3]}) TO '{sys.argv[2]}' (HEADER, DELIMITER ',')\")"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, help="folder to keep the generated visits in")
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout whose xl_pmpm to run")
    ap.add_argument("--baseline", type=Path, help="an older checkout, run in the same rounds")
    ap.add_argument("--cpu", action="store_true", help="CPU seconds instead of wall time")
    args = ap.parse_args()
    mapping = load_mapping()
    codes = {"visits": args.code.resolve()}
    if args.baseline:
        codes["baseline"] = args.baseline.resolve()
    for code in codes.values():
        compileall.compile_dir(code / "xl_pmpm", quiet=1)
    envs = {side: {**os.environ, "PYTHONPATH": str(code)} for side, code in codes.items()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = args.data or work
        data.mkdir(parents=True, exist_ok=True)
        src = data / f"visits_{SHAPE}_{args.visits}.csv"
        if not src.exists():
            # Made in a child process: this one stays small, so no child inherits its pages
            # (Linux keeps a process's peak RSS across fork and exec: every side's peak
            # read as the generator's).
            make = (
                "import sys; sys.path[:0] = sys.argv[3:]; "
                "from bench_visits import MONTH, generate_visits; "
                "generate_visits(int(sys.argv[1]), MONTH).to_csv(sys.argv[2], index=False)"
            )
            part = src.with_suffix(".part")
            here = str(Path(__file__).resolve().parent)
            subprocess.run(
                [sys.executable, "-c", make, str(args.visits), str(part), here, str(ROOT)],
                check=True,
            )
            part.rename(src)
        query = duckdb_query(mapping)
        sides = {
            side: command_side(
                lambda n, side=side: [
                    *[sys.executable, "-m", "xl_pmpm.cli", "visits", str(src)],
                    *["--month", MONTH, "--out", str(work / f"out_{side}_{n}")],
                ],
                envs[side],
                work,
                ok=(0, 1),  # exit 1: the report has errors to review
                cpu=args.cpu,
            )
            for side in codes
        }
        duck = [sys.executable, "-c", DUCKDB, str(src), str(work / "d.csv"), query]
        sides["duckdb"] = command_side(lambda n: duck, quiet(envs["visits"]), work, cpu=args.cpu)
        limit = [sys.executable, "-c", ARROW, str(src), str(work / "a.csv")]
        sides["arrow"] = command_side(lambda n: limit, quiet(envs["visits"]), work, cpu=args.cpu)
        rounds = alternate(sides, args.repeat)
        rows_duck = (work / "d.csv").read_bytes().count(b"\n") - 1
        written = {
            side: {
                p.read_bytes()
                for n in range(args.repeat)
                for p in (work / f"out_{side}_{n}").iterdir()
            }
            for side in codes
        }
        peak = {s: rounds.peak(s) for s in sides}
        print(
            json.dumps(
                {
                    "visits": args.visits,
                    "measure": "cpu" if args.cpu else "wall",
                    "file_mb": round(src.stat().st_size / 1e6, 1),
                    "rounds": args.repeat,
                    "load_average_1min": rounds.loads,
                    **{f"{s}_s": round(rounds.median(s), 2) for s in sides},
                    **{f"{s}_peak_mib": round(v) for s, v in peak.items()},
                    "ratio_to_duckdb": round(rounds.ratio("visits", "duckdb"), 2),
                    "peak_ratio_to_duckdb": round(peak["visits"] / peak["duckdb"], 2),
                    "ratio_to_arrow": round(rounds.ratio("visits", "arrow"), 2),
                    **(
                        {
                            "baseline_ratio_to_duckdb": round(
                                rounds.ratio("baseline", "duckdb"), 2
                            ),
                            "ratio_to_baseline": round(rounds.ratio("visits", "baseline"), 2),
                        }
                        if "baseline" in codes
                        else {}
                    ),
                    "duckdb_groups": rows_duck,
                    "same_bytes_every_round": all(len(w) == 1 for w in written.values()),
                    **(
                        {"same_bytes_as_baseline": written["visits"] == written["baseline"]}
                        if "baseline" in written
                        else {}
                    ),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
