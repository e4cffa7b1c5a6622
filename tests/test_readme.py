"""The README's reference tables are generated from the data that drives the code."""

from __future__ import annotations

from pathlib import Path

from xl_pmpm.core.findings import CODES, findings_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_findings_table_lists_every_code_with_its_fix() -> None:
    readme = README.read_text(encoding="utf-8")
    assert findings_markdown() in readme
    assert all(f"| `{code}` |" in readme for code in CODES)
