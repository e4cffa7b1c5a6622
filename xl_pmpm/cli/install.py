"""``xl-pmpm install``: a copy of the workbook set up for the Python that runs this command.

The workbook's buttons and cell functions reach Python through the xlwings VBA module
built into it, which finds its interpreter in the ``xlwings.conf`` sheet first. So set-up
is: write a personal copy of the workbook whose ``xlwings.conf`` sheet names this
interpreter (``sys.executable``, the environment where xl_pmpm is installed), and, on
macOS, install xlwings' AppleScript helper with xlwings' own installer. Nothing global is
changed: other xlwings workbooks keep their own settings.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from xl_pmpm.cli.options import add_settings
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io import files

WORKBOOK_NAME = "PMPM_Tier_Report.xlsm"
PLATFORMS = ("windows", "mac")
# xlwings.conf keys (xlwings.bas upper-cases them when it reads the sheet).
INTERPRETER_KEY = {"windows": "Interpreter_Win", "mac": "Interpreter_Mac"}
EXAMPLE_PYTHON = {"windows": r"C:\Python311\python.exe", "mac": "/usr/local/bin/python3"}

EXCEL_STEPS = {
    "windows": [
        "Open {workbook} in Excel and click Enable Content (macros) when asked.",
        "If Windows blocked the file: right-click it, Properties, tick Unblock, OK.",
        "Cell functions (PMPM_TIER ...) work as soon as macros are enabled: the workbook "
        "carries their VBA wrappers.",
    ],
    "mac": [
        "Open {workbook} in Excel and click Enable Macros when asked.",
        "The buttons run Python through the AppleScript helper installed in "
        "~/Library/Application Scripts/com.microsoft.Excel; macOS may ask once to allow it.",
        "Cell functions (@xw.func) need Excel on Windows; on macOS use the buttons, "
        "or xlwings Lite (see docs/workbook.md).",
    ],
}


@dataclass
class Installed:
    workbook: Path
    platform: str
    interpreter: str
    done: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def current_platform() -> str | None:
    """ "windows", "mac", or None where Excel does not run (Linux)."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "mac"
    return None


def interpreter_settings(platform: str, python: str) -> dict[str, str]:
    """The xlwings.conf sheet entries that point the workbook at `python`."""
    if platform not in INTERPRETER_KEY:
        raise PmpmInputError(
            f"Unknown platform {platform!r}.", fix=f"Use one of: {', '.join(PLATFORMS)}."
        )
    return {INTERPRETER_KEY[platform]: python}


def enable_runpython_on_mac() -> None:
    """xlwings' own installer for its AppleScript helper (``xlwings runpython install``)."""
    from xlwings import cli as xlwings_cli

    xlwings_cli.runpython_install(None)


def install_workbook(
    directory: str | Path,
    platform: str,
    python: str,
    *,
    layout_path: str | Path | None = None,
    rates_path: str | Path | None = None,
    payers_path: str | Path | None = None,
) -> Installed:
    """Write a configured copy of the workbook into `directory` (never over an existing file)."""
    layout = files.load_layout(layout_path)
    book = files.load_rate_book(rates_path, payers_path)
    from xl_pmpm.workbook import (
        template,  # openpyxl, xlwings and the VBA writer: only for this command
    )

    data = template.workbook_bytes(
        layout, book, xlwings_config=interpreter_settings(platform, python)
    )
    path = files.write_new_file(directory, WORKBOOK_NAME, data, mode=0o644)
    done = [f"Wrote {path} (its xlwings.conf sheet names {python})."]
    steps = [s.format(workbook=path.name) for s in EXCEL_STEPS[platform]]
    if platform == "mac":
        if current_platform() == "mac":
            enable_runpython_on_mac()
            done.append("Installed xlwings' RunPython helper for Excel (AppleScript).")
        else:
            steps.insert(1, "On that Mac, run `xlwings runpython install` once (xlwings' helper).")
    return Installed(path, platform, python, done, steps)


_UNEXPANDED = re.compile(r"%[A-Za-z_][A-Za-z0-9_]*%|\$env:[A-Za-z_]+", re.IGNORECASE)


def cmd_install(args: argparse.Namespace) -> int:
    unexpanded = _UNEXPANDED.search(args.to)
    if unexpanded:  # the other Windows shell's spelling: it reached us as text
        raise PmpmInputError(
            f"The folder {args.to} holds {unexpanded.group()}, which this shell did not "
            "replace by its value: a folder by that name would be made.",
            fix='In PowerShell write --to "$env:USERPROFILE\\Documents\\PMPM"; in cmd.exe '
            '--to "%USERPROFILE%\\Documents\\PMPM"; on a Mac --to ~/Documents/PMPM.',
        )
    platform = args.platform or current_platform()
    if platform is None:
        raise PmpmInputError(
            "Excel does not run on this system, so there is nothing to set up here.",
            fix="Run `xl-pmpm install` on the Windows or Mac computer where Excel runs, or "
            "prepare a copy for it with --platform windows|mac --python PATH.",
        )
    if args.python is None and platform != current_platform():
        raise PmpmInputError(
            f"This Python ({sys.executable}) runs here, not on the {platform} computer.",
            fix="Give the interpreter on that computer with --python, e.g. "
            f"{EXAMPLE_PYTHON[platform]}.",
        )
    python = args.python or sys.executable
    result = install_workbook(
        args.to,
        platform,
        python,
        layout_path=args.layout,
        rates_path=args.rates,
        payers_path=args.payers,
    )
    print("\n".join(result.done))
    print("Then, in Excel:")
    print("\n".join(f"  {n}. {step}" for n, step in enumerate(result.next_steps, start=1)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install",
        help="write a copy of the workbook set up for this Python (Windows or macOS)",
        description="Write a copy of the billers' workbook whose xlwings.conf sheet names "
        "this Python (or --python), never over an existing file, and print the Excel steps. "
        "The examples: Windows cmd.exe, Windows PowerShell, macOS.",
        example=[
            'xl-pmpm install --to "%USERPROFILE%\\Documents\\PMPM"',
            'xl-pmpm install --to "$env:USERPROFILE\\Documents\\PMPM"',
            "xl-pmpm install --to ~/Documents/PMPM",
        ],
        group="start",
    )
    p.add_argument("--to", default=".", help="folder for the workbook (default: here)")
    p.add_argument("--platform", choices=PLATFORMS, help="default: this computer's")
    p.add_argument("--python", help="interpreter the workbook runs (default: this one)")
    add_settings(p, output=False, bundled="bundled")
    p.set_defaults(func=cmd_install)
