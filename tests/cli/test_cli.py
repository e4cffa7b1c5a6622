"""The `xl-pmpm` command line: exit codes, JSON, and no tracebacks."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run

from benchmarks.sample import extract_csv, generate_extract
from xl_pmpm.cli import app as cli
from xl_pmpm.core.layout import layout_markdown
from xl_pmpm.io import files

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = files.bundled("sample_tier_report.csv")
AS_OF = "2026-11-05"


@pytest.fixture(scope="module")
def clean_extract(tmp_path_factory) -> Path:
    """A valid extract with no errors (warnings allowed)."""
    layout, book = files.load_layout(), files.load_rate_book()
    frame = generate_extract(120, "2026-10", layout, book, mangle=False, below_minimum=False)
    path = tmp_path_factory.mktemp("clean") / "clean.csv"
    path.write_bytes(extract_csv(frame))
    return path


def test_validate_sample_reports_errors_as_json(capsys):
    code, out, _ = run(capsys, "validate", str(SAMPLE), "--as-of", AS_OF, "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert report["month"] == "2026-10"
    assert report["rows"] == 301  # 302 data lines, one of them blank
    assert {"errors", "warnings", "summary"} <= set(report)
    for code_name in (
        "id-mangled",
        "formula-prefix",
        "datetime-format",
        "blank-row",
        "duplicate-member",
        "tier-mismatch",
        "below-minimum-hours",
        "tier-at-risk",
    ):
        assert report["summary"].get(code_name), code_name
    first = report["errors"][0]
    assert set(first) == {"code", "severity", "row", "field", "value", "message"}
    assert all(isinstance(e["row"], int) for e in report["errors"] if e["row"] is not None)


def test_validate_text_output_hides_member_ids_and_names(capsys):
    code, out, _ = run(capsys, "validate", str(SAMPLE), "--as-of", AS_OF)
    assert code == 1
    sample = files.read_tier_report(SAMPLE, files.load_layout()).table
    for pid in sample["Patient Number"].head(50):
        if pid:
            assert pid not in out
    for name in sample["Patient Name"].head(50):
        if name:
            assert name not in out


def test_validate_clean_file_exits_zero(capsys, clean_extract):
    code, out, _ = run(capsys, "validate", str(clean_extract), "--as-of", AS_OF, "--format", "json")
    report = json.loads(out)
    assert code == 0, report["errors"][:3]
    assert report["valid"] is True


def test_validate_as_of_outside_window(capsys, clean_extract):
    code, out, _ = run(
        capsys, "validate", str(clean_extract), "--as-of", "2026-10-20", "--format", "json"
    )
    assert code == 1
    assert [e["code"] for e in json.loads(out)["errors"]] == ["too-early"]
    code, out, _ = run(
        capsys, "validate", str(clean_extract), "--as-of", "2027-01-30", "--format", "json"
    )
    late = json.loads(out)  # past the 90 days: a warning, the payer settings not saying error
    assert late["errors"] == [] and "past-deadline" in {w["code"] for w in late["warnings"]}
    assert code == 0
    code, out, _ = run(
        capsys, "validate", str(clean_extract), "--as-of", "2027-01-29", "--format", "json"
    )
    on_time = {w["code"] for w in json.loads(out)["warnings"]}
    assert code == 0 and "past-deadline" not in on_time  # 31 October + 90 days: last day


def test_validate_unreadable_exits_two(capsys, tmp_path):
    fake = tmp_path / "report.csv"
    fake.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    code, out, _ = run(capsys, "validate", str(fake), "--format", "json")
    assert code == 2
    assert json.loads(out)["errors"][0]["code"] == "not-csv"


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    code, out, err = run(capsys, "validate", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "not found" in err and "Traceback" not in err + out


def test_bad_usage_exits_two(capsys, clean_extract):
    code, _, err = run(capsys, "validate", str(clean_extract), "--month", "October")
    assert code == 2 and "YYYY-MM" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate"])
    assert exc.value.code == 2


def test_export_refused_writes_nothing(capsys, tmp_path):
    out_dir = tmp_path / "out"
    code, out, _ = run(
        capsys, "export", str(SAMPLE), "--out", str(out_dir), "--as-of", AS_OF, "--format", "json"
    )
    assert code == 1
    payload = json.loads(out)
    assert payload["files"] == [] and payload["refused"] is True
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_export_writes_files_and_leaves_input_untouched(capsys, tmp_path, clean_extract):
    before = hashlib.sha256(clean_extract.read_bytes()).hexdigest()
    code, out, _ = run(
        capsys,
        "export",
        str(clean_extract),
        "--out",
        str(tmp_path),
        "--as-of",
        AS_OF,
        "--format",
        "json",
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["rows"] == 120
    assert len(payload["files"]) == 4  # one per contract
    for f in payload["files"]:
        assert Path(f).exists()
        assert oct(os.stat(f).st_mode & 0o777) == "0o600"
    assert hashlib.sha256(clean_extract.read_bytes()).hexdigest() == before
    # Without the ledger the same file can be exported again: new names, nothing overwritten.
    code, out2, _ = run(
        capsys,
        "export",
        str(clean_extract),
        "--out",
        str(tmp_path),
        "--no-ledger",
        "--as-of",
        AS_OF,
        "--format",
        "json",
    )
    assert code == 0
    assert not set(json.loads(out2)["files"]) & set(payload["files"])  # never overwritten


def test_tier_json(capsys):
    code, out, _ = run(
        capsys,
        "tier",
        "0",
        "0.99",
        "1",
        "159.99",
        "160",
        "479.99",
        "480",
        "--month",
        "2026-10",
        "--format",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["tier"] for r in rows] == [None, None, 1, 1, 2, 2, 3]
    assert [r["rate_code"] for r in rows][2:] == ["2443", "2443", "2444", "2444", "2445"]
    assert rows[-1]["rate"] == 1046.36
    assert set(rows[0]) == {"hours", "tier", "rate_code", "rate"}


def test_tier_payer_and_bad_hours(capsys):
    code, out, _ = run(
        capsys,
        "tier",
        "100",
        "--payer",
        "Sample Health Plan",
        "--month",
        "2026-10",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)[0]["rate"] == 150.0
    code, _, err = run(capsys, "tier", "ten")
    assert code == 2 and "not a number" in err


def test_review_then_restore_round_trip(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "review",
        str(SAMPLE),
        "--suggested",
        "--out",
        str(tmp_path),
        "--as-of",
        AS_OF,
        "--format",
        "json",
    )
    assert code == 0
    done = json.loads(out)
    assert oct(os.stat(done["archive"]).st_mode & 0o777) == "0o600"
    code, out, _ = run(capsys, "validate", done["file"], "--as-of", AS_OF, "--format", "json")
    assert code == 0, json.loads(out)["errors"][:3]
    code, out, _ = run(
        capsys,
        "restore",
        done["file"],
        "--archive",
        str(Path(done["archive"]).parent),
        "--out",
        str(tmp_path / "restored"),
        "--format",
        "json",
    )
    assert code == 0
    layout = files.load_layout()
    original = files.read_tier_report(SAMPLE, layout).table
    restored = files.read_tier_report(json.loads(out)["file"], layout).table
    assert restored.reset_index(drop=True).equals(original.reset_index(drop=True))


def test_demo_runs_end_to_end(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert code == 0
    exported = list((tmp_path / "demo" / "export").glob("*.csv"))
    assert len(exported) == 4
    assert "Export:" in out and "Traceback" not in out
    # The tier flags count the rows validation counts (the sample's blank row aside).
    validated = re.search(r"in (\d+) row\(s\)", out)
    flagged = re.search(r"Tier flags: (\d+) rows", out)
    assert validated and flagged and validated[1] == flagged[1]
    for f in exported:
        code, _, _ = run(capsys, "validate", str(f), "--as-of", AS_OF)
        assert code == 0


def test_internal_error_has_no_traceback_and_no_cell_values(capsys, monkeypatch, tmp_path):
    def boom(*_a, **_k):
        raise RuntimeError("José García 0140096016")

    monkeypatch.setattr(cli, "check_file", boom)
    code, out, err = run(capsys, "validate", str(SAMPLE))
    assert code == 3
    assert "Traceback" not in out + err
    assert "José" not in out + err and "0140096016" not in out + err


def test_console_script_runs_without_traceback(tmp_path):
    """The installed entry point, as a biller would call it."""
    proc = subprocess.run(
        [sys.executable, "-m", "xl_pmpm.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "folder" in proc.stderr and "Traceback" not in proc.stderr


def test_reference_layout_table_is_generated_from_the_layout():
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert layout_markdown(files.load_layout()) in reference


def test_bundled_sample_is_the_generators_output():
    layout, book = files.load_layout(), files.load_rate_book()
    frame = generate_extract(300, "2026-10", layout, book)
    assert extract_csv(frame) == SAMPLE.read_bytes()


# --- help ----------------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _helps() -> dict[str, str]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {c.dest: c.help or "" for c in action._choices_actions}


def test_top_level_help_lists_every_command_with_a_one_line_help(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    helps = _helps()
    assert set(helps) == set(_subcommands())
    for name, text in helps.items():
        assert text.strip() and "\n" not in text, name
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.M), name


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_command_has_help(capsys, command: str) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: xl-pmpm {command}") and err == ""
