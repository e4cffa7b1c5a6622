"""The bad-input corpus (tests/corpus/): every file gives its expected finding, never a traceback.

Each file of tests/corpus/files/ goes through the real reader and validator
(files.read_tier_report + validation.validate_report) and, for those marked
`cli`, through `xl-pmpm validate`. The manifest (tests/corpus/expected.toml,
written by tests/corpus/make_corpus.py) says which finding codes each must give,
on which lines, or which clear error it must raise. The input is byte-identical
afterwards. A 50 MB extract is generated at test time (never committed).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import sample
from xl_pmpm.cli import app as cli
from xl_pmpm.core import errors
from xl_pmpm.core.validation import validate_report
from xl_pmpm.io import files

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
CASES: dict[str, dict] = MANIFEST["files"]
AS_OF = date.fromisoformat(MANIFEST["as_of"])
LAYOUT = files.load_layout()
BOOK = files.load_rate_book()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_corpus_is_complete_and_generated() -> None:
    on_disk = {p.name for p in (CORPUS / "files").iterdir()}
    assert on_disk == set(CASES)
    assert len(CASES) >= 50
    assert all("codes" in c or "error" in c for c in CASES.values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_file_gives_its_expected_finding(name: str) -> None:
    case = CASES[name]
    path = CORPUS / "files" / name
    before = digest(path)
    if "error" in case:
        with pytest.raises(getattr(errors, case["error"])) as raised:
            files.read_tier_report(path, LAYOUT)
        text = str(raised.value)
        assert name in text  # names the file
        assert case["message"] in text
        assert digest(path) == before
        return
    report = files.read_tier_report(path, LAYOUT)
    validation, _ = validate_report(report, LAYOUT, BOOK, as_of=AS_OF)
    findings = validation.findings
    codes = set(findings["code"])
    shown = findings.to_string()
    assert set(case["codes"]) <= codes, shown
    if case.get("exact"):
        assert codes == set(case["codes"]), shown
    for code, lines in case.get("rows", {}).items():
        got = sorted(int(r) for r in findings.loc[findings["code"] == code, "row"].dropna())
        assert got == lines, shown
    if "message" in case:
        wanted = findings[findings["code"].isin(case["codes"])]["message"]
        assert wanted.str.contains(case["message"], regex=False).any(), shown
    # every finding says how to fix it and where (a line, a column or the file)
    assert findings["message"].str.len().gt(20).all()
    assert digest(path) == before


CLI_CASES = sorted(n for n, c in CASES.items() if c.get("cli"))


@pytest.mark.parametrize("name", CLI_CASES)
def test_corpus_file_through_xl_pmpm_validate(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    path = CORPUS / "files" / name
    before = digest(path)
    code = cli.main(["validate", str(path), "--as-of", AS_OF.isoformat(), "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert digest(path) == before
    if "error" in case:
        assert code == 2
        assert err.startswith("error: ") and name in err and case["message"] in err
        return
    payload = json.loads(out)
    got = {f["code"] for f in payload["errors"] + payload["warnings"]}
    assert set(case["codes"]) <= got
    if case.get("exact"):
        assert got == set(case["codes"])
    unreadable = {"not-csv", "empty-file"} & got and not payload["rows"]
    if unreadable and any(f["severity"] == "error" for f in payload["errors"]):
        assert code == 2
    else:
        assert code == (0 if payload["valid"] else 1)
    # the text form too: no traceback, the file named
    assert cli.main(["validate", str(path), "--as-of", AS_OF.isoformat()]) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert name in out + err


@pytest.fixture(scope="module")
def fifty_mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50 MB extract (about 300,000 rows): too large to upload as one file."""
    frame = sample.generate_extract(1_000, "2026-10", LAYOUT, BOOK, mangle=False)
    chunk = sample.extract_csv(frame)
    header, body = chunk.split(b"\r\n", 1)
    path = tmp_path_factory.mktemp("big") / "extract_50mb.csv"
    with path.open("wb") as fh:
        fh.write(header + b"\r\n")
        for _ in range(50_000_000 // len(body) + 1):
            fh.write(body)
    return path


def test_a_50_mb_file_is_read_and_reported_too_large(fifty_mb: Path) -> None:
    before = digest(fifty_mb)
    report = files.read_tier_report(fifty_mb, LAYOUT)
    assert report.size > 50_000_000
    assert report.readable
    codes = report.findings["code"].tolist()
    assert codes == ["file-too-large"]
    assert "MB" in report.findings["message"].iloc[0]
    assert len(report.table) > 250_000
    assert report.table.index[0] == 2
    assert pd.api.types.is_string_dtype(report.table["Patient Number"])
    assert digest(fifty_mb) == before


READABLE = sorted(n for n, c in CASES.items() if "error" not in c)


@pytest.mark.parametrize("name", READABLE)
def test_columns_side_by_side_give_the_same_findings(name: str, monkeypatch) -> None:
    """Validation factorizes a large table's columns on several threads (`side_by_side`): on
    every corpus file, with that forced on, the findings are those of one column at a time."""
    from xl_pmpm.core import parallel

    report = files.read_tier_report(CORPUS / "files" / name, LAYOUT)
    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 10**12)
    one_by_one, _ = validate_report(report, LAYOUT, BOOK, as_of=AS_OF)
    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 0)
    side_by_side, _ = validate_report(report, LAYOUT, BOOK, as_of=AS_OF)
    pd.testing.assert_frame_equal(side_by_side.findings, one_by_one.findings)
    assert side_by_side.month == one_by_one.month
