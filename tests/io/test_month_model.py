"""Issue 22: a model-based test of the month's commands on the default ledger.

Random sequences of review (delete / defer), restore, export (into random folders, the
agency's default ledger), reconcile (a row the import failed), carry-over and unbilled,
over a few members, two months and two contracts, on a fake clock (`--as-of`, moved
forward by `tick`). Every command runs in process through `xl-pmpm`'s entry point.

Invariants after every step:
- never twice: no member-month has two confirmed ledger entries unless one is a
  recorded correction, and every import file on disk is in the ledger with its hash
  (so no member-month is in two import files unbeknown to the ledger);
- never lost: every earned member-month (visits of at least one hour) is exported, a
  placeholder, or listed by `xl-pmpm unbilled` (recoverable or lost);
- the month's report, the archive, the carried reports and the import files hold every
  original row, with its original values.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from xl_pmpm.cli import app as cli
from xl_pmpm.core.entries import ENTRY_COLUMNS
from xl_pmpm.core.values import member_key
from xl_pmpm.io import files, ledger

PLAN, OTHER = "Linked - Metro MLTC CDPAP", "UPR - Hudson Valley MLTC"
SEPT, OCT = "2026-09", "2026-10"
MONTHS = (SEPT, OCT)
# member -> contract, and hours a day in each month (days 1..10): tiers 1 and 2.
MEMBERS = {
    "0000000401": (PLAN, {SEPT: 4, OCT: 17}),
    "0000000402": (PLAN, {SEPT: 17, OCT: 4}),
    "0000000403": (OTHER, {SEPT: 6, OCT: 6}),
    "0000000404": (OTHER, {SEPT: 2, OCT: 20}),
}
HEADER = ["Agency ID", "Office ID", "Patient Number", "Patient Name", "Contract"]
HEADER += ["Visit Date", "Hours", "Status"]
FOLDERS = ("upload", "upload2", "usb")
START = date(2026, 11, 2)


def xl(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def read_rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


class MonthCycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="xl-pmpm-model-"))
        self.saved_env = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", ledger.LEDGER_ENV)}
        os.environ["XDG_DATA_HOME"] = str(self.root / "data")
        os.environ.pop(ledger.LEDGER_ENV, None)
        self.today = START
        self.current: dict[str, Path] = {}  # month -> the report the biller works on
        self.reviewed: dict[str, bool] = {}
        self.original: dict[str, pd.DataFrame] = {}
        self.carried: list[Path] = []
        self.visits: dict[str, Path] = {}

    def teardown(self) -> None:
        for k, v in self.saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the month's files ------------------------------------------------------------------

    @initialize()
    def build_reports(self) -> None:
        for month in MONTHS:
            path = self.root / f"visits_{month}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(HEADER)
                for pid, (contract, hours) in MEMBERS.items():
                    for d in range(1, 11):
                        w.writerow(
                            ["48213", "702", pid, f"Member {pid[-3:]}", contract,
                             f"{month}-{d:02d}", f"{hours[month]}", "Billed"]
                        )  # fmt: skip
            self.visits[month] = path
            self.archive(month).mkdir(parents=True, exist_ok=True)
            code, out, err = xl(
                "visits", path, "--month", month, "--out", self.root / "reports", "--format", "json"
            )
            assert code == 0, err
            self.current[month] = Path(json.loads(out)["file"])
            self.reviewed[month] = False
            self.original[month] = read_rows(self.current[month])

    def archive(self, month: str) -> Path:
        """One archive folder for every month, as `review --out work` keeps it."""
        return self.root / "archive"

    def line_of(self, month: str, pid: str) -> int | None:
        rows = read_rows(self.current[month])
        hit = [i + 2 for i, p in enumerate(rows["Patient Number"]) if p == pid]
        return hit[0] if hit else None

    # --- the rules ------------------------------------------------------------------------

    @rule(days=st.integers(1, 40))
    def tick(self, days: int) -> None:
        self.today += timedelta(days=days)

    @rule(
        month=st.sampled_from(MONTHS),
        pid=st.sampled_from(sorted(MEMBERS)),
        action=st.sampled_from(["delete", "defer"]),
    )
    def review(self, month: str, pid: str, action: str) -> None:
        line = self.line_of(month, pid)
        if line is None or self.reviewed[month]:
            return  # one review per version of the report (restore starts another)
        code, out, err = xl(
            "review", self.current[month], f"--{action}", line, "--out", self.root / "reports",
            "--archive", self.archive(month), "--as-of", self.today, "--format", "json",
        )  # fmt: skip
        assert code == 0, err
        self.current[month] = Path(json.loads(out)["file"])
        self.reviewed[month] = True

    @rule(month=st.sampled_from(MONTHS))
    def restore(self, month: str) -> None:
        if not self.reviewed[month]:
            return
        code, out, err = xl(
            "restore", self.current[month], "--archive", self.archive(month),
            "--out", self.root / "reports", "--format", "json",
        )  # fmt: skip
        if code == 2 and "No archive records waiting" in err:
            return  # everything it set aside was carried meanwhile
        assert code == 0, err
        self.current[month] = Path(json.loads(out)["file"])
        self.reviewed[month] = False

    @rule(data=st.data(), folder=st.sampled_from(FOLDERS))
    def export(self, data: st.DataObject, folder: str) -> None:
        choices = [*self.current.values(), *self.carried]
        path = data.draw(st.sampled_from(choices), label="file")
        code, out, err = xl(
            "export", path, "--out", self.root / folder, "--as-of", self.today, "--format", "json"
        )
        assert code in (0, 1), err  # exported, or refused (already exported, window, ...)
        refused = {e["code"] for e in json.loads(out).get("errors", [])} if code else set()
        event(f"export: {'written' if code == 0 else ', '.join(sorted(refused))}")

    @rule(data=st.data())
    def reconcile(self, data: st.DataObject) -> None:
        entries = self.entries()
        sent = entries[(entries["status"] == "exported") & (entries["placeholder"] == 0)]
        if sent.empty:
            return
        entry = sent.iloc[data.draw(st.integers(0, len(sent) - 1), label="entry")]
        rows = read_rows(Path(entry["directory"]) / entry["file_name"])
        row = rows[rows["Patient Number"] == entry["patient_number"]].iloc[0]
        results = self.root / f"failed_{len(os.listdir(self.root))}.csv"
        with results.open("w", newline="", encoding="utf-8") as fh:
            fh.write("0 of 1 rows imported successfully\r\n")
            w = csv.DictWriter(fh, [*rows.columns, "Failed Reason"])
            w.writeheader()
            w.writerow({**row.to_dict(), "Failed Reason": "Invalid Service Code"})
        code, out, err = xl("reconcile", results, "--as-of", self.today)
        assert code in (0, 1) and "1 marked rejected" in out, out + err
        event("reconcile: marked rejected")

    @rule()
    def carry_over(self) -> None:
        code, out, err = xl(
            "carry-over", "--archive", self.archive(SEPT), "--into", self.current[OCT],
            "--out", self.root / "carried", "--as-of", self.today, "--format", "json",
        )  # fmt: skip
        assert code == 0, err
        done = json.loads(out)
        event(f"carry-over: {len(done['files'])} file(s), {len(done['placeholders'])} held")
        for f in done["files"]:
            assert f["month"] == SEPT  # a carried row keeps its month
            self.carried.append(Path(f["file"]))

    # --- what must always hold ------------------------------------------------------------

    def entries(self) -> pd.DataFrame:
        db = ledger.default_ledger()
        return ledger.history(db) if ledger.exists(db) else pd.DataFrame(columns=ENTRY_COLUMNS)

    @invariant()
    def never_twice(self) -> None:
        if not self.current:
            return
        db = ledger.default_ledger()
        if not ledger.exists(db):
            return
        entries = ledger.history(db)
        live = entries[entries["status"].isin(["exported", "pending"])]
        live = live.assign(member=member_key(live["patient_number"]).to_numpy())
        for kind in (0, 1):  # confirmed rows, placeholders
            once = live[(live["placeholder"] == kind) & (live["correction"] == 0)]
            assert not once.duplicated(["member", "month"]).any()
        # Every import file on disk is the ledger's, whole and with its hash: no file
        # holds a member-month the ledger does not know.
        by_file = {
            (d, n): set(g["sha256"]) for (d, n), g in entries.groupby(["directory", "file_name"])
        }
        for folder in FOLDERS:
            d = self.root / folder
            if not d.is_dir():
                continue
            assert not [p.name for p in d.iterdir() if p.name.startswith(".")]  # no .pending
            for p in d.glob("*.csv"):
                key = (str(d.resolve()), p.name)
                assert by_file.get(key) == {ledger.sha256_hex(p.read_bytes())}, p.name
        assert set(entries["status"]) <= {"exported", "rejected"}  # nothing left pending

    @invariant()
    def never_lost(self) -> None:
        if not self.current:
            return
        db = ledger.default_ledger()
        entries = ledger.history(db) if ledger.exists(db) else None
        for month in MONTHS:
            code, out, err = xl(
                "unbilled", self.visits[month], "--month", month, "--archive",
                self.archive(month), "--as-of", self.today, "--format", "json",
            )  # fmt: skip
            assert code in (0, 1), err
            found = json.loads(out)
            listed = {r["patient_number"] for r in found["recoverable"] + found["lost"]}
            for pid in MEMBERS:
                held = False
                if entries is not None:
                    mine = entries[
                        (entries["month"] == month)
                        & (entries["patient_number"] == pid)
                        & entries["status"].isin(["exported", "pending"])
                    ]
                    held = not mine.empty
                assert held or pid in listed, (month, pid)

    @invariant()
    def every_row_kept(self) -> None:
        if not self.current:
            return
        archive = files.read_archive(self.archive(SEPT))
        for month in MONTHS:
            report = read_rows(self.current[month])
            columns = list(self.original[month].columns)
            kept = [report[columns]]
            if not archive.empty:
                kept.append(archive.reindex(columns=columns).fillna(""))
            kept += [read_rows(p)[columns] for p in self.carried]
            held = {tuple(r) for r in pd.concat(kept).itertuples(index=False, name=None)}
            for row in self.original[month].itertuples(index=False, name=None):
                assert row in held, (month, row[columns.index("Patient Number")])


# Bounded for CI (about a minute on one core); XL_PMPM_MODEL_EXAMPLES runs it longer.
MonthCycle.TestCase.settings = settings(
    max_examples=int(os.environ.get("XL_PMPM_MODEL_EXAMPLES", "10")),
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_month_cycle = pytest.mark.slow(MonthCycle.TestCase)
