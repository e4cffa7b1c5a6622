"""Rewrite the checkout's generated files: the workbook template and the macros/ copies.

    python tools/regenerate_workbook.py [--root DIR]

A development command, not a behaviour of the installed package: `xl-pmpm build-template
--out FILE` builds a workbook anywhere; this writes, under the repository's root (or
`--root`), `workbook_templates/PMPM_Tier_Report.xlsm` (the workbook shipped in the
checkout) and `macros/` (the ribbon XML and VBA modules as text, for people to read),
both from the bundled layout and rate table. `tests/workbook/test_template.py` checks that the
checked-in copies are what this writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path("workbook_templates") / "PMPM_Tier_Report.xlsm"
MACROS = Path("macros")


def regenerate(root: Path) -> list[Path]:
    """Write the template and the macros/ copies under `root`; the files written."""
    from xl_pmpm.io import files
    from xl_pmpm.workbook import template

    written = template.write_macro_sources(root / MACROS)
    layout, book = files.load_layout(), files.load_rate_book()
    written.append(template.build_template(root / TEMPLATE, layout, book))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this one)")
    args = parser.parse_args(argv)
    for path in regenerate(args.root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this checkout's xl_pmpm, installed or not
    raise SystemExit(main())
