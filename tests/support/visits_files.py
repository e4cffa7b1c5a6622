"""Visits files written for tests and the CLI run on them: rows of daily visits for a
member-month, the file HHAeXchange's visits export gives, and a tier report built from it
with `xl-pmpm visits`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from xl_pmpm.cli.app import main

HEADER = ["Agency ID", "Office ID", "Patient Number", "Patient Name", "Contract"]
HEADER += ["Visit Date", "Hours", "Status"]
PLAN = "Linked - Metro MLTC CDPAP"  # the default payer's rates: 146.45 / 387.84 / 1046.36
OTHER = "UPR - Hudson Valley MLTC"


def visits_rows(pid: str, month: str, days: int, hours: float, contract: str = PLAN) -> list:
    return [
        [
            "48213",
            "702",
            pid,
            f"Member {pid[-3:]}",
            contract,
            f"{month}-{d:02d}",
            f"{hours}",
            "Billed",
        ]
        for d in range(1, days + 1)
    ]


def write_visits(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().out


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code, out = run(capsys, *argv, "--format", "json")
    return code, json.loads(out)


def report_lines(path: Path) -> dict[str, int]:
    """Patient Number -> line in the tier report."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {pid: i + 2 for i, pid in enumerate(table["Patient Number"])}


def build_report(capsys, visits: Path, month: str, out: Path) -> Path:
    code, payload = run_json(capsys, "visits", visits, "--month", month, "--out", out)
    assert code == 0, payload
    return Path(payload["file"])
