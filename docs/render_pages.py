"""Render the first printed page of every sheet of the demo workbook to docs/pages/.

    python docs/render_pages.py [--out docs/pages] [--dpi 60] [--only All Summary]

Builds the demo (``xl-pmpm demo``), then for each visible sheet saves a copy with only
that sheet visible, prints it to PDF with LibreOffice (headless, recalculating on
load) and turns its first page into ``<sheet>.png`` with pdftoppm (poppler-utils).
What LibreOffice prints is what Excel would print from the same page setup, near
enough to spot cut-off columns, ##### cells, split charts and jargon.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl

from xl_pmpm import cli

# Recalculate OOXML files on load, whatever the profile's default (as tests/support/libreoffice.py).
RECALC_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def file_name(sheet: str) -> str:
    """A sheet name as a file name: letters, digits and dashes."""
    return re.sub(r"[^0-9A-Za-z]+", "-", sheet).strip("-") or "sheet"


def render(
    workbook: Path, out: Path, dpi: int, work: Path, only: list[str] | None = None
) -> list[Path]:
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if soffice is None or pdftoppm is None:
        sys.exit("Needs LibreOffice (soffice) and poppler-utils (pdftoppm) on PATH.")
    profile = work / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_XCU)
    names = [ws.title for ws in openpyxl.load_workbook(workbook) if ws.sheet_state == "visible"]
    names = [n for n in names if only is None or n in only]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        wb = openpyxl.load_workbook(workbook)
        wb.active = wb.sheetnames.index(name)
        for ws in wb:
            ws.sheet_state = "visible" if ws.title == name else "hidden"
            if ws.title != name:  # LibreOffice prints a hidden sheet's print area too
                ws.print_area = None
        copy = work / f"{file_name(name)}.xlsx"
        wb.save(copy)
        subprocess.run(
            [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless"]
            + ["--convert-to", "pdf", "--outdir", str(work), str(copy)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        png = out / file_name(name)
        subprocess.run(
            [pdftoppm, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile"]
            + [str(copy.with_suffix(".pdf")), str(png)],
            check=True,
            timeout=120,
        )
        written.append(png.with_suffix(".png"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "pages")
    parser.add_argument("--dpi", type=int, default=60)
    parser.add_argument("--only", nargs="+", help="these sheets only (default: every one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if cli.main(["demo", "--out", str(work / "demo")]) != 0:
            return 1
        (workbook,) = (work / "demo").glob("*.xlsm")
        for path in render(workbook, args.out, args.dpi, work, args.only):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
