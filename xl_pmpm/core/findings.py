"""Findings: every problem found in a file, with a stable code, a place and a fix.

Conventions follow frictionless / pandera: one pass collects everything; each
finding has a kebab-case code, a row (the file's line: header = 1, first data
row = 2; none for file-level findings), a field, the offending value and a
one-line message saying how to fix it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

ERROR = "error"
WARNING = "warning"

# code -> (severity, what a biller does about it). Messages add the specifics.
CODES: dict[str, tuple[str, str]] = {
    "not-csv": (ERROR, "Upload a CSV file: in Excel use File > Save As > CSV UTF-8."),
    "file-too-large": (
        ERROR,
        "Export with xl-pmpm, which splits the upload into parts under the limit.",
    ),
    "encoding": (WARNING, "Nothing to do: export writes UTF-8."),
    "delimiter": (WARNING, "Nothing to do: export writes commas."),
    "empty-file": (ERROR, "Download the tier report again: this file holds no header."),
    "missing-column": (
        ERROR,
        "Put the column back with this exact header (download the extract again if unsure).",
    ),
    "extra-column": (
        WARNING,
        "Export leaves it out; delete it before uploading this file as it is.",
    ),
    "duplicate-column": (ERROR, "Delete one of the two columns."),
    "header-variant": (
        WARNING,
        "Export writes the exact header; fix it before uploading this file as it is.",
    ),
    "column-order": (
        WARNING,
        "Export writes the layout's order; reorder before uploading this file as it is.",
    ),
    "ragged-row": (ERROR, "Make the line hold exactly one value per column."),
    "blank-row": (ERROR, "Delete the blank row: a blank row breaks the import."),
    "no-rows": (ERROR, "Download the tier report again: this file holds no member rows."),
    "repeated-header": (ERROR, "Delete the line: the import would read it as a member."),
    "totals-row": (ERROR, "Delete the totals line: the import would read it as a member."),
    "required": (ERROR, "Fill in the cell."),
    "type": (ERROR, "Correct the value."),
    "max-length": (ERROR, "Shorten the value."),
    "allowed-value": (ERROR, "Use one of the accepted values."),
    "line-break": (ERROR, "Remove the line break inside the cell."),
    "datetime-format": (
        ERROR,
        "Write the date and time as YYYY-MM-DD HH:MM, e.g. 2024-08-01 03:00.",
    ),
    "end-before-start": (ERROR, "Make the end time later than the start time."),
    "outside-billing-month": (
        ERROR,
        "Use a date in the billing month (normally the 1st at 03:00).",
    ),
    "duplicate-member": (
        ERROR,
        "Keep one row per member for the month: delete or defer the others.",
    ),
    "split-contracts": (
        WARNING,
        "Nothing to fix: bill the PMPM on this row only, with the tier of the added-up "
        "hours, and no row for the member's other contracts.",
    ),
    "auto-billed-contract": (
        ERROR,
        "Delete the row: HHAeXchange creates this contract's PMPM visit itself every night "
        "(Additional Bill Info), so importing it bills a second PMPM. If the contract no "
        "longer bills PMPM that way, take it out of auto_billed in the payer settings.",
    ),
    "tier-mismatch": (ERROR, "Correct the tier, or check the billed hours."),
    "service-code-mismatch": (ERROR, "Use the service code of the member's tier."),
    "below-minimum-hours": (
        ERROR,
        "Delete the row (xl-pmpm review --delete keeps it for carry-over): a PMPM needs at "
        "least one billed hour in the month, and deferring does not clear this (the "
        "deferred row still goes out, as a placeholder).",
    ),
    "no-rate": (ERROR, "Add a rate for this payer and month to the Rates table."),
    # The payer's service-code and rate setup (service_setup.py; rows = rate-table lines).
    "hcpcs-mismatch": (ERROR, "Enter the tier's rate code exactly: no spaces, decimals or prefix."),
    "revenue-code-missing": (WARNING, "Ask the payer for its revenue code and enter it."),
    "service-code-missing": (ERROR, "Enter the tier's service code."),
    "duplicate-service-code": (ERROR, "Give each tier service codes of its own."),
    "tier-at-risk": (
        WARNING,
        "Defer or delete the row until the unbilled hours are billed, or bill it as is.",
    ),
    "formula-prefix": (
        ERROR,
        "Remove the leading character: the cell would run as a formula in Excel.",
    ),
    "id-mangled": (
        ERROR,
        "Re-enter the ID as text exactly as the extract had it (Excel turned it into a number).",
    ),
    "locked-modified": (ERROR, "Put back the extract's value: this field must not be modified."),
    "too-early": (ERROR, "Wait until the 1st of the month after the service month to submit."),
    "past-deadline": (
        WARNING,
        "The submission window has closed: contact the payer before submitting "
        "(an error where the payer settings say late = error).",
    ),
    "already-exported": (
        ERROR,
        "Delete the row (it was billed already), or export it as a correction if the earlier visit was removed in HHAeXchange.",
    ),
    "still-rejected": (
        WARNING,
        "Correct the row as the failed reason says; it is left out of the resubmission and stays rejected until then.",
    ),
    "no-month": (ERROR, "Give the billing month with --month YYYY-MM, or fix the schedule dates."),
    "mixed-months": (
        WARNING,
        "Rows from more than one month: give the billing month with --month.",
    ),
    # issue 13: true to the sources (seeds 000, 001)
    "checks-skipped": (
        WARNING,
        "Nothing to fix for the import; keep the tier report's columns to have them checked.",
    ),
    "tier-raised": (
        WARNING,
        "Nothing to fix if raising the tier is your choice; otherwise put back the billed "
        "hours' tier, or defer the row until the unbilled hours are billed.",
    ),
    "discipline-code-mismatch": (
        ERROR,
        "Use the tier's PA service code for PA and its Skilled code for Other (Skilled), "
        "or change the discipline.",
    ),
    "placeholder-open": (
        ERROR,
        "Confirm the placeholder visit in HHAeXchange instead of importing a second visit; "
        "if the placeholder was removed there, export this row with --correction LINE.",
    ),
    "payer-unknown": (
        WARNING,
        "Add the payer (or the contract's pattern) to the payer settings if it has rules "
        "of its own; otherwise nothing to do.",
    ),
    "payer-codes-unset": (
        WARNING,
        "Verify the procedure and revenue codes with the payer: add its own rows to the rate "
        "table, or set own_codes = no in the payer settings if it takes the state defaults.",
    ),
    # xl-pmpm service-setup: a service-code setup export (setup_export.py; rows = its lines)
    "setup-code-unknown": (
        ERROR,
        "Use a tier's service code from the rate table, or add the payer's code to it.",
    ),
    "revenue-code-mismatch": (ERROR, "Enter the revenue code the payer gave (the rate table's)."),
    "export-code-format": (
        ERROR,
        "Enter 2443, 2444 or 2445, or the service code, five colons and the description.",
    ),
    # xl-pmpm service-setup --billing-rates: the contract's billing rates (billing_rates.py)
    "billing-rate-missing": (
        ERROR,
        "Add an active billing rate for the service code covering the month (Contract Setup "
        "> Billing Rates > New Rate): HHAeXchange prices each claim from it.",
    ),
    "billing-rate-inactive": (
        WARNING,
        "Tick Active on the rate if it should price claims, or delete the row.",
    ),
    "billing-rate-mismatch": (
        ERROR,
        "Set the rate to the tier's rate in the rate table (or correct the rate table if the "
        "payer negotiated another).",
    ),
    "billing-units": (ERROR, "Enter 1 in Billing Units: one PMPM a month is one unit."),
    "billing-rate-gap": (
        ERROR,
        "Move the From Date or To Date so the rates follow each other day after day.",
    ),
    "billing-rate-value": (
        ERROR,
        "Write the rate as a plain number, billing units as a whole number and dates as the "
        "mapping's date formats.",
    ),
    # Issue 14: bad input, round two.
    "invisible-character": (
        ERROR,
        "Retype the cell in the source (delete it and type it again): the character "
        "cannot be seen but makes the value another one.",
    ),
    "excel-error": (
        ERROR,
        "Fix the formula in the workbook (or type the value), then save the file again.",
    ),
    "hours-implausible": (ERROR, "Correct the hours: the month does not have that many."),
    "several-reports": (
        WARNING,
        "Check that the sheet read is this month's; delete or hide the other sheets, "
        "or make this month's sheet the active one before saving.",
    ),
    "hidden-row": (
        WARNING,
        "Hidden and filtered rows are uploaded too: unhide them (clear the filter) and "
        "delete or defer the rows that must not be billed.",
    ),
    "lone-cr": (
        WARNING,
        "Remove the stray carriage return (an editor that shows line ends, or "
        "re-save the file from Excel as CSV UTF-8).",
    ),
    # issue 15 (item 7 of issue 14): a title above a CSV's header
    "title-line": (
        WARNING,
        "Nothing to do: the title line(s) are left out of the upload. Delete them to be sure.",
    ),
}


def findings_markdown() -> str:
    """The finding codes as docs/reference.md's Markdown table (a test keeps the two equal)."""
    lines = ["| code | severity | what to do |", "|---|---|---|"]
    lines += [f"| `{code}` | {severity} | {fix} |" for code, (severity, fix) in CODES.items()]
    return "\n".join(lines)


FINDING_COLUMNS = ["code", "severity", "row", "field", "value", "message"]


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": pd.Series(dtype="string"),
            "severity": pd.Series(dtype="string"),
            "row": pd.Series(dtype="Int64"),
            "field": pd.Series(dtype="string"),
            "value": pd.Series(dtype="string"),
            "message": pd.Series(dtype="string"),
        }
    )


def finding_rows(
    code: str,
    rows: pd.Index | list[int],
    field: str | None,
    values: pd.Series | list[str] | str,
    message: pd.Series | str,
    severity: str | None = None,
) -> pd.DataFrame:
    """Findings of one code for many rows at once (rows = file line numbers)."""
    rows = pd.Index(rows)
    n = len(rows)
    if n == 0:
        return empty_findings()
    sev = severity or CODES[code][0]
    fix = CODES[code][1]
    if isinstance(message, pd.Series):  # (Arrow text stays Arrow: no Python string per row)
        text = (message.astype(str) + " " + fix).array
    else:
        text = [f"{message} {fix}"] * n
    if isinstance(values, pd.Series):
        vals = values.astype(str).array
    elif isinstance(values, str):
        vals = [values] * n
    else:
        vals = list(values)
    return pd.DataFrame(
        {
            "code": pd.array([code] * n, dtype="string"),
            "severity": pd.array([sev] * n, dtype="string"),
            "row": pd.array(rows.to_numpy(), dtype="Int64"),
            "field": pd.array([field] * n, dtype="string"),
            "value": pd.array(vals, dtype="string"),
            "message": pd.array(text, dtype="string"),
        }
    )


def file_finding(
    code: str,
    message: str,
    field: str | None = None,
    value: str = "",
    row: int | None = None,
    severity: str | None = None,
) -> pd.DataFrame:
    """One finding about the file as a whole (row None) or about its header (row 1)."""
    frame = finding_rows(code, [0], field, value, message, severity)
    frame["row"] = pd.array([row], dtype="Int64")
    return frame


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty_findings()
    out = pd.concat(parts, ignore_index=True)
    order = out["row"].fillna(0).astype("int64")
    return (
        out.assign(_o=order)
        .sort_values(["_o", "code"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


@dataclass
class ValidationReport:
    """The outcome of validating one table."""

    findings: pd.DataFrame
    rows: int
    source: str = ""
    month: str | None = None
    as_of: str | None = None

    @property
    def errors(self) -> pd.DataFrame:
        return self.findings[self.findings["severity"] == ERROR]

    @property
    def warnings(self) -> pd.DataFrame:
        return self.findings[self.findings["severity"] == WARNING]

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    @property
    def error_count(self) -> int:
        """How many errors: counted, not selected (a large report's findings are not copied)."""
        return int((self.findings["severity"] == ERROR).sum())

    @property
    def warning_count(self) -> int:
        """How many warnings, counted as `error_count` is."""
        return int((self.findings["severity"] == WARNING).sum())

    def summary(self) -> dict[str, int]:
        return {
            str(k): int(v) for k, v in self.findings["code"].value_counts().sort_index().items()
        }

    def with_findings(self, found: pd.DataFrame) -> ValidationReport:
        """This report with `found` added (the same report when there are none)."""
        if found.empty:
            return self
        return dataclasses.replace(self, findings=combine([self.findings, found]))

    def to_dict(self, limit: int | None = 1000) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            frame = frame if limit is None else frame.head(limit)
            out = frame.astype(object).where(frame.notna(), None).to_dict("records")
            for r in out:
                if r["row"] is not None:
                    r["row"] = int(r["row"])
            return out

        return {
            "valid": self.valid,
            "file": self.source,
            "month": self.month,
            "as_of": self.as_of,
            "rows": self.rows,
            "errors": records(self.errors),
            "warnings": records(self.warnings),
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "summary": self.summary(),
            "truncated": limit is not None and len(self.findings) > limit,
        }
