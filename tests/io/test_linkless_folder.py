"""Issue 22 item 7: a folder without hard links (a USB stick's FAT/exFAT, some network
shares). Simulated in process: os.link raises as such a file system does."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from cli_helpers import (  # noqa: F401 (fixtures)
    EXTRACT_ROWS,
    extract_fixture,
    no_env_ledger_fixture,
    run,
)

from xl_pmpm.io import ledger
from xl_pmpm.io.ledger import _recording as ledger_files

AS_OF = "2026-11-05"


def no_hard_links(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def link(src, dst, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(src), None, str(dst))

    monkeypatch.setattr(os, "link", link)


def export(capsys, file: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    code, text, err = run(
        capsys, "export", str(file), "--out", str(out), "--as-of", AS_OF, "--format", "json", *extra
    )
    return code, json.loads(text) if text.strip() else {}, err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOTSUP])
def test_an_export_to_a_folder_without_hard_links_is_published_and_recorded(
    capsys, tmp_path, extract, monkeypatch, code
):
    no_hard_links(monkeypatch, code)
    out = tmp_path / "usb"
    code_, done, err = export(capsys, extract, out)
    assert code_ == 0 and done["rows"] == EXTRACT_ROWS, err
    assert leftovers(out) == []  # no .pending file
    entries = ledger.history(ledger.default_ledger())
    assert len(entries) == EXTRACT_ROWS and set(entries["status"]) == {"exported"}
    for name in {Path(f).name for f in done["files"]}:
        data = (out / name).read_bytes()
        assert data and set(entries.loc[entries["file_name"] == name, "sha256"]) == {
            ledger.sha256_hex(data)
        }
    # Never over another file: the same month again is refused, a review copy is numbered.
    code_, again, _ = export(capsys, extract, out)
    assert code_ == 1 and again["summary"]["already-exported"] == EXTRACT_ROWS


def test_a_folder_that_refuses_the_file_leaves_nothing_behind_and_says_why(
    capsys, tmp_path, extract, monkeypatch
):
    no_hard_links(monkeypatch, errno.EPERM)
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(src).endswith(ledger_files.TEMP_SUFFIX):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(src))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "share"
    code, done, err = export(capsys, extract, out)
    assert code == 2 and done == {}
    assert str(out) in err and os.strerror(errno.EACCES) in err
    assert "nothing was written and nothing recorded" in err
    assert list(out.iterdir()) == []  # no .pending file, no reservation, no import file
    assert ledger.history(ledger.default_ledger()).empty  # no pending entry


def test_an_export_killed_between_reservation_and_rename_is_finished_by_the_next(
    capsys, tmp_path, extract, monkeypatch
):
    no_hard_links(monkeypatch, errno.EPERM)
    real_replace = os.replace

    def killed(src, dst, *args, **kwargs):
        if str(src).endswith(ledger_files.TEMP_SUFFIX):
            raise KeyboardInterrupt("killed after the reservation")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", killed)
    out = tmp_path / "usb"
    code, _, _ = export(capsys, extract, out)
    assert code == 130
    monkeypatch.setattr(os, "replace", real_replace)
    pending = ledger.history(ledger.default_ledger())
    assert set(pending["status"]) == {"pending"}
    # A kill (not Ctrl-C, which takes the reservation back) leaves the empty reservation.
    for name in set(pending["file_name"]):
        (out / name).touch()
    # The next export's first step finishes it: the rows are not billed twice.
    code, again, _ = export(capsys, extract, out)
    assert code == 1 and again["summary"]["already-exported"] == EXTRACT_ROWS
    assert leftovers(out) == []
    entries = ledger.history(ledger.default_ledger())
    assert len(entries) == EXTRACT_ROWS and set(entries["status"]) == {"exported"}
    for name in set(entries["file_name"]):
        data = (out / name).read_bytes()
        assert set(entries.loc[entries["file_name"] == name, "sha256"]) == {ledger.sha256_hex(data)}
