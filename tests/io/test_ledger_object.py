"""The ledger as one object (`io.ledger.Ledger`): one export's steps on one opened ledger,
the workflow's words as its methods, and no driver error leaving the package as it is."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pandas as pd
import pytest
from core_helpers import AS_OF, BOOK, LAYOUT, MONTH, valid_table

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io import ledger, workflow
from xl_pmpm.io.ledger import _recording

AT = datetime(2025, 4, 15, 9, 30)


def test_one_export_through_the_object_then_its_history_rejects_and_backup(tmp_path):
    db = tmp_path / "ledger.sqlite3"
    done = workflow.export_import_file(
        valid_table(3), tmp_path / "out", LAYOUT, BOOK, month=MONTH, as_of=AS_OF, at=AT, ledger=db
    )
    assert done.rows == 3
    opened = ledger.Ledger.open(db)
    try:
        entries = opened.history()
        assert len(entries) == 3 and set(entries["status"]) == {"exported"}
        first = entries.iloc[0]
        rows = pd.DataFrame(
            {
                "patient_number": [first["patient_number"]],
                "contract": [first["contract"]],
                "month": [first["month"]],
                "reason": ["Invalid Service Code"],
            }
        )
        marked = opened.mark_rejected(rows, AT)
        assert marked["id"].tolist() == [first["id"]]
        assert opened.history()["status"].tolist() == ["rejected", "exported", "exported"]
        assert opened.backup(tmp_path / "copy.sqlite3") == 3
    finally:
        opened.close()
    assert ledger.history(tmp_path / "copy.sqlite3")["status"].tolist()[0] == "rejected"


def test_a_driver_error_leaves_the_package_as_the_projects_own(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite3"

    def refused(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(_recording, "insert_entries", refused)
    with pytest.raises(ledger.LedgerUnusable) as caught:
        workflow.export_import_file(
            valid_table(2), tmp_path / "out", LAYOUT, BOOK, month=MONTH, as_of=AS_OF, at=AT,
            ledger=db,
        )  # fmt: skip
    assert isinstance(caught.value, PmpmInputError) and caught.value.kind == "OperationalError"
    assert "readonly" in caught.value.describe() and not caught.value.damaged
    assert not list((tmp_path / "out").glob("*"))  # nothing written, no temp file left

    (tmp_path / "damaged.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(PmpmInputError, match="damaged"):
        ledger.history(tmp_path / "damaged.sqlite3")
