"""Issue 27: every command and every file-taking option against one set of hostile files.

Each slot (a command's positional file, `--original`, `--layout`, `--rates`, `--payers`,
`--mapping`, `--results-columns`, `--ledger`, `--archive`, `--into`, `--corrected`, ...)
gets each hostile file of tests/support/hostile_files.py while every other input is valid. The
property: an exit code the CLI documents for bad input or findings (never 3), never a
traceback, and nothing written (the output folder and the current folder unchanged).
Run in process (tests/support/cli_helpers.py): a few seconds for the whole matrix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import extract_fixture, no_env_ledger_fixture, run  # noqa: F401
from hostile_files import NAMES, make_hostile, portal_page

from xl_pmpm.io import files
from xl_pmpm.io.ledger import LEDGER_NAME

AS_OF = "2026-11-05"
ESFM = "Easter Seals Financial Management"


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file under the folders, with its size and modification time."""
    out = {}
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            for n in names + dirs:
                p = Path(root) / n
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, extract: Path) -> dict[str, Path]:
    """Valid companions: the extract, a ledger and an archive made from it, visits, results,
    per-diem, spans and service-setup files."""
    folder = tmp_path_factory.mktemp("base")
    out: dict[str, Path] = {"extract": extract}
    exported = folder / "exported"
    from xl_pmpm.cli import app as cli

    out["ledger"] = folder / LEDGER_NAME
    assert (
        cli.main(
            ["export", str(extract), "--out", str(exported), "--as-of", AS_OF]
            + ["--ledger", str(out["ledger"])]
        )
        == 0
    )
    reviewed = folder / "reviewed"
    assert (
        cli.main(["review", str(extract), "--out", str(reviewed), "--defer", "2", "--as-of", AS_OF])
        == 0
    )
    out["archive"] = reviewed / "archive"
    out["reviewed"] = next(reviewed.glob("*_reviewed_*.csv"))
    visits = folder / "visits.csv"
    visits.write_text(
        "Patient Number,Contract,Visit Date,Hours,Status\n"
        "0000000001,Linked - Metro MLTC CDPAP,2026-10-01,100,Billed\n"
        "0000000002,Linked - Metro MLTC CDPAP,2026-10-02,200,Billed\n"
    )
    out["visits"] = visits
    results = folder / "results.csv"
    results.write_text("Patient Number,Primary Contract,Visit Date,Failed Reason\n")
    out["results"] = results
    units = folder / "units.csv"
    units.write_text("client,date,code,units\nA,2016-07-31,602,1\n")
    out["units"] = units
    fi = folder / "fi.csv"
    fi.write_text(f"member,provider,start,end\n007,{ESFM},2024-01-01,2024-06-30\n")
    out["fi"] = fi
    pm = folder / "pmpm.csv"
    pm.write_text("member,start,end\n007,2024-01-01,2024-06-30\n")
    out["pmpm"] = pm
    setup = folder / "setup.csv"
    setup.write_text(
        "Contract,Discipline,Service Code,Description,Export Code,Revenue Code,HCPCS Code\n"
        "*,PA,2443,PMPM Tier 1,2443,0500,2443\n"
    )
    out["setup"] = setup
    return out


# Each slot: (name, suffix of the hostile file, command line). In the command line, H is the
# hostile file, O the output folder and {key} a valid companion file from `base`.
RECONCILE = "reconcile {results} --ledger {ledger}"
PERDIEM = "perdiem {units} --threshold 1 --arrears 2 --run-date 2016-08-02"
MONTH = "--month 2026-10"
SLOTS: list[tuple[str, str, str]] = [
    ("validate FILE", ".csv", f"validate H --as-of {AS_OF}"),
    ("validate --original", ".csv", "validate {extract} --original H"),
    ("validate --layout", ".toml", "validate {extract} --layout H"),
    ("validate --rates", ".csv", "validate {extract} --rates H"),
    ("validate --payers", ".csv", "validate {extract} --payers H"),
    ("validate --ledger", ".sqlite3", "validate {extract} --ledger H"),
    ("export FILE", ".csv", f"export H --out O --as-of {AS_OF}"),
    ("export --original", ".csv", "export {extract} --out O --original H"),
    ("export --ledger", ".sqlite3", "export {extract} --out O --ledger H"),
    ("export --layout", ".toml", "export {extract} --out O --layout H"),
    ("export --rates", ".csv", "export {extract} --out O --rates H"),
    ("export --payers", ".csv", "export {extract} --out O --payers H"),
    ("review FILE", ".csv", "review H --out O --suggested"),
    ("review --payers", ".csv", "review {extract} --out O --defer 2 --payers H"),
    ("restore FILE", ".csv", "restore H --archive {archive} --out O"),
    ("restore --archive", "", "restore {reviewed} --archive H --out O"),
    ("summary FILE", ".csv", "summary H"),
    ("summary --archive", "", "summary {extract} --archive H"),
    ("summary --rates", ".csv", "summary {extract} --rates H"),
    ("visits FILE", ".csv", f"visits H {MONTH} --out O"),
    ("visits --mapping", ".toml", f"visits {{visits}} {MONTH} --out O --mapping H"),
    ("visits --layout", ".toml", f"visits {{visits}} {MONTH} --out O --layout H"),
    ("unbilled VISITS", ".csv", f"unbilled H --as-of {AS_OF} --ledger {{ledger}}"),
    ("unbilled --mapping", ".toml", "unbilled {visits} --mapping H --ledger {ledger}"),
    ("unbilled --archive", "", "unbilled {visits} --archive H --ledger {ledger}"),
    ("unbilled --ledger", ".sqlite3", "unbilled {visits} --ledger H"),
    ("unbilled --into", ".csv", "unbilled {visits} --into H --out O --ledger {ledger}"),
    ("reconcile RESULTS", ".csv", "reconcile H --ledger {ledger}"),
    ("reconcile --results-columns", ".toml", f"{RECONCILE} --results-columns H"),
    ("reconcile --corrected", ".csv", f"{RECONCILE} --corrected H --out O"),
    ("reconcile --ledger", ".sqlite3", "reconcile {results} --ledger H"),
    ("carry-over --archive", "", "carry-over --archive H"),
    ("carry-over --into", ".csv", "carry-over --archive {archive} --into H --out O"),
    ("history --ledger", ".sqlite3", "history --ledger H"),
    ("kpi --ledger", ".sqlite3", "kpi --ledger H"),
    ("kpi --visits", ".csv", "kpi --ledger {ledger} --visits H"),
    ("kpi --mapping", ".toml", "kpi --ledger {ledger} --visits {visits} --mapping H"),
    ("kpi --payers", ".csv", "kpi --ledger {ledger} --payers H"),
    ("ledger init --ledger", ".sqlite3", "ledger init --ledger H"),
    ("ledger backup --ledger", ".sqlite3", "ledger backup --ledger H --to O/b.sqlite3"),
    ("perdiem FILE", ".csv", "perdiem H --threshold 1 --arrears 2 --run-date 2016-08-02"),
    ("perdiem --auth", ".csv", f"{PERDIEM} --auth H"),
    ("perdiem --existing", ".csv", f"{PERDIEM} --existing H"),
    ("spans FI_FILE", ".csv", "spans H {pmpm} --provider {esfm}"),
    ("spans PMPM_FILE", ".csv", "spans {fi} H --provider {esfm}"),
    ("service-setup FILE", ".csv", f"service-setup H {MONTH}"),
    ("service-setup --rates", ".csv", f"service-setup {{setup}} {MONTH} --rates H"),
    ("tier --rates", ".csv", "tier 100 --rates H"),
    ("tier --payers", ".csv", "tier 100 --payers H"),
    ("claim-dates --payers", ".csv", "claim-dates 2026-10 --payers H"),
    ("layout --layout", ".toml", "layout --layout H"),
    ("build-template --layout", ".toml", "build-template --out O/t.xlsm --layout H"),
    ("build-template --rates", ".csv", "build-template --out O/t.xlsm --rates H"),
    ("demo --payers", ".csv", "demo --out O --payers H"),
]

# Exit codes a hostile file may get: 2 (bad input), or 1 where the command reads it and
# reports findings (e.g. a UTF-16 report with rows to review); never 0 with nothing read
# unless the file is one the command can genuinely read (UTF-16 text is a CSV).
ALLOWED = {1, 2}


def _hostile_archive(folder: Path, name: str) -> Path:
    """An archive folder holding the hostile file as its archive record."""
    archive = folder / f"archive-{name}"
    archive.mkdir()
    make_hostile(archive, name, "").rename(archive / "archive_20261101T000000_review.csv")
    return archive


@pytest.mark.parametrize("hostile", NAMES)
@pytest.mark.parametrize("slot", SLOTS, ids=[s[0] for s in SLOTS])
def test_a_hostile_file_in_any_slot_is_a_message_never_an_internal_error(
    capsys, tmp_path, monkeypatch, base, slot, hostile
):
    _, suffix, line = slot
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the current folder: nothing may appear in it either
    out = tmp_path / "out"
    if suffix == "":  # an archive folder
        h = _hostile_archive(tmp_path, hostile)
    else:
        (tmp_path / "in").mkdir()
        h = make_hostile(tmp_path / "in", hostile, suffix)
    values = {k: str(v) for k, v in base.items()} | {"esfm": ESFM}
    args = []
    for word in line.split(" "):
        if word == "H":
            word = str(h)
        elif word == "O" or word.startswith("O/"):
            word = str(out) + word[1:]
        args.append(word.format(**values))
    before = snapshot(tmp_path, *base.values())
    code, stdout, stderr = run(capsys, *args)
    assert "Traceback" not in stdout + stderr
    assert "internal error" not in stderr, stderr
    assert code != 3
    if code == 0:  # read as valid (UTF-16 text is a CSV); then only the command's own output
        return
    assert code in ALLOWED, (code, stderr)
    after = snapshot(tmp_path, *base.values())
    if suffix == ".sqlite3" and hostile == "empty":
        # An empty file is an empty SQLite database: refused as "no exports table" after the
        # ledger's lock was taken; the lock file (empty, reused by every export) stays.
        after.pop(f"{h}.lock", None)
        after[str(h.parent)] = before[str(h.parent)]
    assert after == before, "a refused input wrote something"


# --- what the file is, said with the fix ------------------------------------------------

NAMED = {
    "web-page": ("a web page (HTML)", "download the file again"),
    "json-message": ("a message from a web service (JSON)", "download the file again"),
    "password-workbook": ("a password-protected Excel workbook", "with its password"),
    "old-xls": ("an old-style Excel workbook (.xls", "Save As > CSV UTF-8"),
    "opendocument": ("an OpenDocument file (.ods", "save it as CSV"),
    "binary-workbook": ("a binary Excel workbook (.xlsb)", "Save As > CSV UTF-8"),
    "cut-off-workbook": ("cut off or damaged", "Download or copy it again"),
    "empty": ("is empty", "again"),
}


@pytest.mark.parametrize("hostile", sorted(NAMED))
def test_a_report_that_is_another_kind_of_file_is_named_with_the_fix(capsys, tmp_path, hostile):
    what, fix = NAMED[hostile]
    path = make_hostile(tmp_path, hostile, ".csv")
    code, out, err = run(capsys, "validate", path, "--as-of", AS_OF)
    assert code == 2
    text = " ".join((out + err).split())
    if hostile == "empty":
        assert "The file is empty" in text
    else:
        assert what in text and fix in text, text
    assert "a zip archive" not in text and "(.xls)" not in text.replace(what, "")


@pytest.mark.parametrize("hostile", sorted(NAMED))
@pytest.mark.parametrize("option", ["--rates", "--payers"])
def test_a_settings_file_that_is_another_kind_of_file_is_named(capsys, tmp_path, hostile, option):
    what, fix = NAMED[hostile]
    path = make_hostile(tmp_path, hostile, ".csv")
    code, out, err = run(capsys, "tier", "100", option, path)
    assert code == 2 and out == ""
    text = " ".join(err.split())
    assert what in text and fix in text and str(path) in text, text


def test_the_portal_page_with_a_line_over_the_csv_modules_limit_is_named(capsys, tmp_path):
    """The round-three case: the download ended on the portal's page, one minified line of
    200,000 characters (the csv module refuses fields over 131,072)."""
    path = tmp_path / "PMPM_Tier_Report.csv"
    path.write_bytes(portal_page())
    for argv in (["validate", path], ["export", path, "--out", tmp_path / "out"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and "web page (HTML)" in out + err
    assert not (tmp_path / "out").exists()


def test_an_over_long_line_in_a_settings_file_is_refused_naming_the_line(capsys, tmp_path):
    rates = files.bundled("rates.csv").read_bytes().splitlines()
    rates.insert(2, b"*," + b"9" * 150_000)
    path = tmp_path / "rates.csv"
    path.write_bytes(b"\n".join(rates))
    code, _, err = run(capsys, "tier", "100", "--rates", path)
    assert code == 2 and "line 3 is 150,002 characters long" in err
