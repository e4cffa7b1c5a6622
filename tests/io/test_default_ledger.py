"""Issue 22: one ledger per agency by default, never in the upload folder; an old
per-folder ledger merged, never ignored; an empty ledger file is a new ledger."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_helpers import (  # noqa: F401 (fixtures)
    EXTRACT_ROWS,
    extract_fixture,
    no_env_ledger_fixture,
    run,
)
from ledger_backends import backend_fixture, pg_ledger_fixture  # noqa: F401 (fixtures)

from xl_pmpm.io import ledger
from xl_pmpm.io.ledger import LEDGER_NAME, default_ledger

AS_OF = "2026-11-05"


def export(capsys, file: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    code, text, err = run(
        capsys, "export", str(file), "--out", str(out), "--as-of", AS_OF, "--format", "json", *extra
    )
    return code, json.loads(text) if text.strip() else {}, err


def test_the_same_month_to_a_second_folder_is_refused_and_no_ledger_is_uploaded(
    capsys, tmp_path, extract, monkeypatch
):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, text, _ = run(capsys, "ledger", "where")
    agency = tmp_path / "data" / "xl-pmpm" / LEDGER_NAME
    assert code == 0 and text.splitlines()[0] == str(agency) and "nothing exported yet" in text

    code, first, _ = export(capsys, extract, tmp_path / "upload")
    assert code == 0 and first["rows"] == EXTRACT_ROWS and first["ledger"] == str(agency)
    code, second, _ = export(capsys, extract, tmp_path / "upload2")
    assert code == 1 and {e["code"] for e in second["errors"]} == {"already-exported"}
    assert second["summary"]["already-exported"] == EXTRACT_ROWS
    assert not (tmp_path / "upload2").exists() or not list((tmp_path / "upload2").iterdir())
    # The upload folder holds the import files and nothing else: no ledger, no lock.
    uploaded = sorted(p.name for p in (tmp_path / "upload").iterdir())
    assert uploaded and all(n.startswith("PMPM_") and n.endswith(".csv") for n in uploaded)
    assert os.stat(agency).st_mode & 0o777 == 0o600
    code, text, _ = run(capsys, "ledger", "where", "--format", "json")
    assert json.loads(text) == {
        "ledger": str(agency),
        "why": "the default: the agency's ledger in your data folder",
        "exists": True,
    }


def old_folder_ledger(capsys, extract: Path, folder: Path) -> Path:
    """What an earlier release left: a ledger in the export folder, with entries."""
    db = folder / LEDGER_NAME
    code, done, _ = export(capsys, extract, folder, "--ledger", str(db))
    assert code == 0 and done["rows"] == EXTRACT_ROWS
    return db


def test_an_old_folder_ledger_is_refused_until_merged_then_its_months_are_known(
    capsys, tmp_path, extract
):
    old = old_folder_ledger(capsys, extract, tmp_path / "upload")
    before = set((tmp_path / "upload").glob("PMPM_*.csv"))
    code, refused, err = export(capsys, extract, tmp_path / "upload")
    assert code == 2 and refused == {}
    assert str(old) in err and f"xl-pmpm ledger merge {old}" in err
    assert set((tmp_path / "upload").glob("PMPM_*.csv")) == before  # nothing written

    code, text, _ = run(capsys, "ledger", "merge", str(old))
    assert code == 0 and f"Merged {EXTRACT_ROWS} entries" in text
    assert not old.exists() and not Path(f"{old}.lock").exists()  # out of the upload folder
    kept = Path(text.split("kept: ")[1].strip())
    assert kept.parent == Path(default_ledger()).parent / "merged" and kept.exists()
    assert len(ledger.history(default_ledger())) == EXTRACT_ROWS

    # The merged months are the agency ledger's now: another folder is refused them.
    code, again, _ = export(capsys, extract, tmp_path / "upload2")
    assert code == 1 and {e["code"] for e in again["errors"]} == {"already-exported"}
    assert again["summary"]["already-exported"] == EXTRACT_ROWS


def test_merging_refuses_a_month_both_ledgers_exported_in_different_files(
    capsys, tmp_path, extract
):
    code, _, _ = export(capsys, extract, tmp_path / "new")  # the agency's ledger
    assert code == 0
    old = old_folder_ledger(capsys, extract, tmp_path / "old")  # the same month, elsewhere
    agency = ledger.history(default_ledger())
    code, text, err = run(capsys, "ledger", "merge", str(old))
    assert code == 2 and f"{EXTRACT_ROWS} member-month(s) were exported in both ledgers" in err
    assert "nothing was merged" in err and "line 2 and" in err
    assert str(tmp_path / "old") in err and str(tmp_path / "new") in err
    assert old.exists()  # refused: kept where it was, and the agency's ledger unchanged
    assert ledger.history(default_ledger()).equals(agency)


def test_an_empty_ledger_file_is_a_new_ledger_and_stale_backup_copies_go(capsys, tmp_path, extract):
    db = Path(default_ledger())
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")  # an export killed right after it created the file
    stale = db.with_name(f".{db.name}.backup.99999.1.tmp")  # a killed backup's copy
    stale.write_bytes(b"half a copy")
    code, done, err = export(capsys, extract, tmp_path / "upload")
    assert code == 0 and done["rows"] == EXTRACT_ROWS, err
    assert len(ledger.history(db)) == EXTRACT_ROWS
    assert not stale.exists()


def test_a_never_initialised_sqlite_file_is_a_new_ledger(capsys, tmp_path, extract):
    import sqlite3

    db = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(db) as conn:  # a database file with no table at all
        conn.execute("PRAGMA user_version = 0")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("DROP TABLE t")  # an SQLite header, and nothing in it
    conn.close()
    assert db.stat().st_size > 0
    code, _, err = run(capsys, "history", "--ledger", str(db))
    assert code == 2 and "No ledger here yet" in err  # as a missing one: nothing exported
    code, done, err = export(capsys, extract, tmp_path / "upload", "--ledger", str(db))
    assert code == 0 and done["rows"] == EXTRACT_ROWS, err


# --- item 5: restore refuses an archive edited since review wrote it ----------------------


def test_restore_refuses_an_archive_row_changed_since_review(capsys, tmp_path, extract):
    code, text, err = run(
        capsys,
        "review",
        str(extract),
        "--delete",
        "3,5",
        "--defer",
        "7",
        "--out",
        str(tmp_path / "rev"),
        "--format",
        "json",
    )
    assert code == 0, err
    reviewed = json.loads(text)
    archive = Path(reviewed["archive"])
    original = archive.read_bytes()
    # Opened in Excel and saved back: the second record's Patient Number lost its zeros.
    lines = original.decode("utf-8").split("\n")
    header = lines[0].split(",")
    cells = lines[2].split(",")
    at = header.index("Patient Number")
    assert cells[at].startswith("0")
    cells[at] = cells[at].lstrip("0")
    lines[2] = ",".join(cells)
    archive.write_bytes("\n".join(lines).encode("utf-8"))
    out = tmp_path / "restored"
    code, _, err = run(
        capsys, "restore", reviewed["file"], "--archive", str(archive.parent), "--out", str(out)
    )
    assert code == 2 and archive.name in err and "line 3" in err and "nothing was restored" in err
    assert not out.exists()
    # Put back as review wrote it: restored, every original row back.
    archive.write_bytes(original)
    code, text, err = run(
        capsys, "restore", reviewed["file"], "--archive", str(archive.parent), "--out", str(out)
    )
    assert code == 0, err
    (restored,) = out.glob("*.csv")
    assert restored.read_bytes().replace(b"\r\n", b"\n") == extract.read_bytes().replace(
        b"\r\n", b"\n"
    )


def test_an_old_folder_ledger_merges_into_the_teams_server_too(capsys, tmp_path, extract, backend):
    """`--ledger` (or $XL_PMPM_LEDGER) names the agency's ledger: a file or the server."""
    old = old_folder_ledger(capsys, extract, tmp_path / "upload")
    code, _, err = export(capsys, extract, tmp_path / "upload", "--ledger", str(backend))
    assert code == 2 and "ledger merge" in err  # not merged into this one either
    code, text, err = run(capsys, "ledger", "merge", str(old), "--ledger", str(backend))
    assert code == 0 and f"Merged {EXTRACT_ROWS} entries" in text, err
    merged = ledger.history(backend)
    assert len(merged) == EXTRACT_ROWS and set(merged["status"]) == {"exported"}
    code, again, _ = export(capsys, extract, tmp_path / "upload", "--ledger", str(backend))
    assert code == 1 and again["summary"]["already-exported"] == EXTRACT_ROWS


def test_restore_undoes_only_its_own_reviews_in_a_shared_archive_folder(capsys, tmp_path, extract):
    """Found by the model test: restore undid every record of the archive folder, of any
    report, so another report's deletion was put into this one (or refused it)."""
    other = tmp_path / "november.csv"
    other.write_bytes(extract.read_bytes())
    archive = tmp_path / "archive"
    reviewed = {}
    for source, action in ((extract, "--delete"), (other, "--defer")):
        code, text, err = run(
            capsys, "review", str(source), action, "3", "--out", str(tmp_path / "rev"),
            "--archive", str(archive), "--format", "json",
        )  # fmt: skip
        assert code == 0, err
        reviewed[source.name] = json.loads(text)["file"]
    out = tmp_path / "restored"
    code, text, err = run(
        capsys, "restore", reviewed["november.csv"], "--archive", str(archive), "--out", str(out)
    )
    assert code == 0 and "Restored 0 deleted row(s)" in text, err
    (restored,) = out.glob("*.csv")
    assert restored.read_bytes().replace(b"\r\n", b"\n") == other.read_bytes().replace(
        b"\r\n", b"\n"
    )
    # October's deletion is still waiting for October's file.
    code, text, err = run(
        capsys, "restore", reviewed[extract.name], "--archive", str(archive), "--out", str(out)
    )
    assert code == 0 and "Restored 1 deleted row(s)" in text, err
