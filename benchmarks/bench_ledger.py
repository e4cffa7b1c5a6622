"""The ledger's record step of the default export, against its own floor, same run.

One extract of `--rows` rows is generated and validated once; then, alternated
`--repeat` times, in this process:

- ledger: `workflow.export_import_file` with a new SQLite ledger; timed from the
  temp files written to the batch confirmed (`io.ledger._recording._checkpoint`): the check,
  every entry recorded pending (built from the table), the placeholder link, the
  files put in place, the confirm;
- floor: stdlib `sqlite3` `executemany` of the same entries as ready-made values, in
  the same order (by member) and by the same statements (100 rows each), into a new file of the same
  schema (the same indexes and rules), one transaction, `synchronous = FULL` and the
  ledger's page cache, committed.

CPU seconds of this process (the machine is shared by several engineers: wall time
measures the others). Medians of the pairs, with the load average at each pair.

    python benchmarks/bench_ledger.py [--rows 250000] [--repeat 3]
    source .ci/postgres.sh && python benchmarks/bench_ledger.py --postgres  # vs SQLite
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.sample
MONTH = "2026-10"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="the record step on PostgreSQL ($XL_PMPM_TEST_POSTGRES, .ci/postgres.sh; a new "
        "database each run) against SQLite, wall seconds (the server's CPU is not ours)",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.postgres else time.process_time

    import sqlalchemy as sa

    from benchmarks.sample import generate_extract
    from xl_pmpm.core.validation import validate_table
    from xl_pmpm.io import files, workflow
    from xl_pmpm.io.ledger import _recording as ledger_files
    from xl_pmpm.io.ledger._db import CACHE_KIB
    from xl_pmpm.io.ledger._inserts import export_entries, grouped_rows, insert_statements
    from xl_pmpm.io.ledger._tables import metadata

    layout, book = files.load_layout(), files.load_rate_book()
    table = generate_extract(args.rows, MONTH, layout, book, mangle=False, below_minimum=False)
    table.index = range(2, len(table) + 2)
    at = datetime(2026, 11, 5, 9, 0)

    marks: dict[str, float] = {}
    ledger_files._checkpoint = lambda stage: marks.__setitem__(stage, clock())

    def ledger_run(work: Path, ledger: str | Path | None = None) -> float:
        ledger = ledger or work / "ledger.db"
        workflow.export_import_file(
            table, work / "out", layout, book, month=MONTH, at=at, ledger=ledger
        )
        return marks["confirmed"] - marks["temp-written"]

    if args.postgres:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
        from ledger_backends import _PASSWORD, drop_database, new_database

        from xl_pmpm.io import ledger as ledger_api

        def pg_run(work: Path) -> float:
            url = new_database()
            full = sa.engine.make_url(url).set(password=_PASSWORD).render_as_string(False)
            ledger_api.init(full)
            try:
                return ledger_run(work, full)
            finally:
                drop_database(url)

        compare(args, ledger_run, pg_run, "SQLite", "PostgreSQL")
        return

    # The floor's values: the same entries, in the same (member) order, built once outside
    # the timing; inserted by the same statements (100 rows each, the month and status
    # written in them).
    report, flags = validate_table(table, layout, book, month=MONTH)
    from xl_pmpm.core.export import import_parts

    parts = list(import_parts(table, layout, report, month=MONTH, stamp=at))
    ids = list(range(1, len(parts) + 1))
    claimed = workflow.claimed(flags)[["tier", "rate"]]
    many, one = insert_statements(MONTH, "exported")
    grouped: list[tuple] = []
    left: list[tuple] = []
    for chunk in export_entries(parts, ids, table, claimed, layout, ()):
        more, rest = grouped_rows(chunk)
        grouped += map(tuple, more)  # the floor's values as tuples, as it always took them
        left += map(tuple, rest)
    del parts

    def floor_run(work: Path) -> float:
        path = work / "floor.db"
        engine = sa.create_engine(f"sqlite:///{path}")
        metadata.create_all(engine)
        engine.dispose()
        start = clock()
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # as the ledger's writer
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(many, grouped)
            conn.executemany(one, left)
            conn.execute("COMMIT")
        return clock() - start

    compare(args, ledger_run, floor_run, "ledger record step", "sqlite3 floor")


def compare(args: argparse.Namespace, one, other, one_name: str, other_name: str) -> None:
    """`one` and `other` alternated `args.repeat` times; the medians and the load."""
    pairs = []
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            first, second = (one, other) if i % 2 == 0 else (other, one)
            t1 = first(Path(a))
            t2 = second(Path(b))
            led, flo = (t1, t2) if first is one else (t2, t1)
        pairs.append((led, flo, load))
        print(
            f"pair {i + 1}: {one_name} {led:.2f} s, {other_name} {flo:.2f} s, "
            f"{led / flo:.2f}x, load {load:.1f}"
        )
    led = statistics.median(p[0] for p in pairs)
    flo = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    print(
        f"{args.rows:,} rows: {one_name} {led:.2f} s, {other_name} {flo:.2f} s, "
        f"median ratio {ratio:.2f}x (load {min(p[2] for p in pairs):.1f}-"
        f"{max(p[2] for p in pairs):.1f})"
    )


if __name__ == "__main__":
    main()
