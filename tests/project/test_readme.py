"""The README is a short way in; the reference tables live in docs/reference.md and are
generated from the data that drives the code."""

from __future__ import annotations

import re
from pathlib import Path

from xl_pmpm.core.findings import CODES, findings_markdown

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"
FIRST_SCREEN = 25  # lines


def _blocks(text: str) -> list[list[str]]:
    """The fenced blocks of a Markdown text, as their lines."""
    return [
        b.strip("\n").splitlines()[1:-1]
        for b in re.findall(r"^```[^\n]*\n.*?^```", text, re.M | re.S)
    ]


def test_reference_findings_table_lists_every_code_with_its_fix() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    assert findings_markdown() in reference
    assert all(f"| `{code}` |" in reference for code in CODES)


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert 80 <= len(lines) <= 130
    first = "\n".join(lines[:FIRST_SCREEN])
    commands = [line for block in _blocks(first) for line in block if line.strip()]
    assert commands == ["xl-pmpm demo", "python -m pytest -q"]
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_sets_up_from_nothing_on_every_shell() -> None:
    text = README.read_text(encoding="utf-8")
    for needed in (
        "python3 -m venv .venv",
        "source .venv/bin/activate",
        r".venv\Scripts\activate.bat",
        r".venv\Scripts\Activate.ps1",
        'python -m pip install -e ".[test]"',
        "externally-managed-environment",
        "git clone",
    ):
        assert needed in text, needed
    for door in ("docs/workbook.md", "docs/month_cycle.md", "docs/architecture.md"):
        assert f"]({door})" in text


def test_no_heading_names_an_issue_and_every_link_resolves() -> None:
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for heading in re.findall(r"^#+ .*$", text, re.M):
            assert not re.search(r"\bissues? \d+", heading, re.I), f"{doc.name}: {heading}"
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def _speed_paragraph(text: str) -> str:
    """The README's one paragraph of speed figures (it starts "Speed, ")."""
    found = re.findall(r"^Speed, .*?(?=\n\n)", text, re.M | re.S)
    assert len(found) == 1, "the README has one paragraph of speed figures"
    return found[0]


def test_speed_figures_are_one_per_benchmark_quoted_from_its_row() -> None:
    """The README quotes one figure per benchmark, the default command's first, each as
    benchmarks/README.md's summary table gives it in that benchmark's row; no other figure
    of speed or memory appears in the README."""
    text = README.read_text(encoding="utf-8")
    speed = _speed_paragraph(text)
    quoted = re.findall(r"\*\*(\d[\d.,]*×)\*\*[^*]*?\(`(bench_\w+\.py)`\)", speed)
    names = [name for _, name in quoted]
    shipped = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert sorted(names) == shipped  # each benchmark once
    assert names[0] == "bench_scale.py" and "default `xl-pmpm export`" in speed
    rows = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8").splitlines()
    for figure, name in quoted:
        row = [r for r in rows if r.startswith(f"| `{name}` |") and f"**{figure}**" in r]
        assert row, f"{name}: {figure} is not the figure its row in benchmarks/README.md gives"
    rest = text.replace(speed, "")
    assert not re.search(r"\d[\d.]*\s*(?:×|x\b|MiB)", rest)


def test_the_workbook_doc_keeps_what_was_verified_in_excel() -> None:
    workbook = (ROOT / "docs" / "workbook.md").read_text(encoding="utf-8")
    assert "## What was verified in real Excel" in workbook
    assert "Treat the workbook as untested in Excel until someone opens it there." in workbook
    assert '"$env:USERPROFILE\\Documents\\PMPM"' in workbook  # PowerShell
    assert '"%USERPROFILE%\\Documents\\PMPM"' in workbook  # cmd.exe
