"""Errors a biller can act on: each names where the problem is and how to fix it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the findings import the errors: a name for the type only
    from xl_pmpm.core.findings import ValidationReport


class PmpmError(Exception):
    """Base class of every error xl_pmpm reports to a user."""


class PmpmInputError(PmpmError):
    """Input that cannot be used as it is: a file, a setting, a table."""

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.fix = fix
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = ", ".join(
            p
            for p in (
                self.file,
                f"line {self.row}" if self.row is not None else None,
                f"column '{self.column}'" if self.column else None,
            )
            if p
        )
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} {self.fix}".strip() if self.fix else text


class ExportRefused(PmpmError):
    """Export was asked for while validation errors remain; nothing was written."""

    def __init__(self, report: ValidationReport, message: str) -> None:
        self.report = report
        super().__init__(message)
