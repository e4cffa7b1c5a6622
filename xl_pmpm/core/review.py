"""Review actions on a tier report: delete, defer and restore rows, reversibly.

Each action returns the new table and archive records (the original row, its
line, the action, the reason, the time); `restore_rows` rebuilds the table from
them exactly. Tables are indexed by file line number and kept in line order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.layout import Layout

DELETE = "delete"
DEFER = "defer"
ARCHIVE_META = ["archived_at", "action", "reason", "line", "source", "month"]
# A deferred row has these columns blank: the visit stays in pre-billing, unconfirmed.
PLACEHOLDER_ROLES = ("visit_start", "visit_end")


def placeholder_rows(table: pd.DataFrame, layout: Layout) -> pd.Series:
    """True for the rows that are deferred placeholders (not billed), by the layout's roles.

    A placeholder has every PLACEHOLDER_ROLES column blank. Where the layout lacks one
    of those roles, or the table lacks its column, no row is a placeholder.
    """
    out = pd.Series(True, index=table.index)
    for role in PLACEHOLDER_ROLES:
        column = layout.column(role)
        if column is None or column.name not in table.columns:
            return pd.Series(False, index=table.index)
        out &= table[column.name].fillna("").astype(str).str.strip().eq("")
    return out


def _lines(table: pd.DataFrame, lines: Iterable[int]) -> list[int]:
    wanted = list(dict.fromkeys(int(n) for n in lines))
    unknown = [n for n in wanted if n not in table.index]
    if unknown:
        shown = ", ".join(str(n) for n in unknown[:5])
        raise PmpmInputError(
            f"Line(s) {shown} are not rows of this report.",
            fix="Give the line numbers shown in the first column of the findings.",
        )
    return wanted


def _records(
    rows: pd.DataFrame, action: str, reason: str, at: datetime, source: str, month: str | None
) -> pd.DataFrame:
    meta = pd.DataFrame(
        {
            "archived_at": at.isoformat(timespec="seconds"),
            "action": action,
            "reason": reason,
            "line": rows.index.astype("int64"),
            "source": source,
            "month": month or "",
        },
        index=rows.index,
    )
    return pd.concat([meta, rows], axis=1).reset_index(drop=True)


def _archived(
    table: pd.DataFrame,
    lines: Iterable[int],
    action: str,
    reason: str,
    at: datetime,
    source: str,
    month: str | None,
) -> tuple[list[int], pd.DataFrame]:
    """The chosen lines (checked) and their archive records."""
    chosen = _lines(table, lines)
    return chosen, _records(table.loc[chosen], action, reason, at, source, month)


def delete_rows(
    table: pd.DataFrame,
    lines: Iterable[int],
    *,
    reason: str,
    at: datetime,
    source: str = "",
    month: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove whole rows (no blank row left behind); the archive keeps them."""
    chosen, archive = _archived(table, lines, DELETE, reason, at, source, month)
    return table.drop(index=chosen), archive


def defer_rows(
    table: pd.DataFrame,
    lines: Iterable[int],
    layout: Layout,
    *,
    reason: str,
    at: datetime,
    source: str = "",
    month: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clear Visit Start and Visit End so the rows stay in pre-billing as placeholders."""
    cleared = [layout.name_of(role) for role in PLACEHOLDER_ROLES]
    chosen, archive = _archived(table, lines, DEFER, reason, at, source, month)
    out = table.copy()
    out.loc[chosen, [c for c in cleared if c in out.columns]] = ""
    return out, archive


def restore_rows(
    table: pd.DataFrame, archive: pd.DataFrame, lines: Iterable[int] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Undo archived actions (all, or those of `lines`), newest first.

    Returns the restored table and the archive records still outstanding.
    """
    if archive.empty:
        return table, archive
    chosen = archive if lines is None else archive[archive["line"].isin(list(lines))]
    columns = list(table.columns)
    out = table
    # Walk back through the actions in reverse order of recording, one batch at a time.
    order = chosen.reset_index().iloc[::-1]
    batches = (
        (order["archived_at"] + "\0" + order["action"])
        .ne((order["archived_at"] + "\0" + order["action"]).shift())
        .cumsum()
    )
    for _, batch in order.groupby(batches, sort=True):
        rows = batch.set_index("line")[columns]
        rows.index = rows.index.astype("int64")
        # The same line twice in one batch: undo to its oldest record (the last, walking back).
        rows = rows[~rows.index.duplicated(keep="last")]
        rows.index.name = table.index.name
        if batch["action"].iloc[0] == DELETE:
            present = rows.index.intersection(out.index)
            if len(present):
                raise PmpmInputError(
                    f"Line(s) {', '.join(map(str, present[:5]))} are already in the report.",
                    fix="Restore each deleted row once.",
                )
            out = pd.concat([out, rows]).sort_index(kind="stable")
        else:
            out = out.copy()
            missing = rows.index.difference(out.index)
            if len(missing):
                raise PmpmInputError(
                    f"Deferred line(s) {', '.join(map(str, missing[:5]))} are no longer in the "
                    "report.",
                    fix="Restore the deletion first, or restore everything.",
                )
            out.loc[rows.index, columns] = rows
    remaining = archive.drop(index=chosen.index)
    return out[columns], remaining.reset_index(drop=True)


# Errors a biller cannot fix by re-typing the cell from memory: the row is set aside.
SET_ASIDE_CODES = (
    "blank-row",
    "repeated-header",
    "totals-row",
    "id-mangled",
    "formula-prefix",
    "datetime-format",
    "duplicate-member",
    "auto-billed-contract",
    "below-minimum-hours",
    "tier-mismatch",
    "service-code-mismatch",
    "discipline-code-mismatch",
    "required",
    "type",
)


def suggest_actions(findings: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """What a careful biller would do with each flagged row: (line, action, reason).

    Rows with errors are deleted (kept in the archive for correction next time),
    except the first row of a duplicated member; rows whose tier the unbilled
    hours would change are deferred.
    """
    row_errors = findings[
        (findings["severity"] == "error")
        & findings["row"].notna()
        & (findings["row"] > 1)
        & findings["code"].isin(SET_ASIDE_CODES)
    ]
    dups = row_errors[row_errors["code"] == "duplicate-member"]
    keep = set(dups.groupby("value")["row"].min().astype(int))  # the first line of each member
    others = row_errors[row_errors["code"] != "duplicate-member"]
    keep -= set(others["row"].astype(int))
    row_errors = row_errors[~row_errors["row"].astype(int).isin(keep)]
    first = row_errors.drop_duplicates("row")
    deletes = pd.DataFrame(
        {
            "line": first["row"].astype("int64"),
            "action": DELETE,
            "reason": first["code"].astype(str),
        }
    )
    at_risk = flags.index[flags.get("at_risk", pd.Series(False, index=flags.index)).astype(bool)]
    at_risk = at_risk.difference(pd.Index(deletes["line"]))
    effect = flags.loc[at_risk, "dollar_effect"] if len(at_risk) else pd.Series(dtype=float)
    defers = pd.DataFrame(
        {
            "line": at_risk.astype("int64"),
            "action": DEFER,
            "reason": "tier-at-risk " + effect.map("{:+,.2f}".format).to_numpy().astype(object),
        }
    )
    return pd.concat([deletes, defers], ignore_index=True).sort_values("line", ignore_index=True)
