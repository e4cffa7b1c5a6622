"""Review actions on a tier report: delete, defer and restore rows, reversibly.

Each action returns the new table and archive records (the original row, its
line, the action, the reason, the time); `restore_rows` rebuilds the table from
them exactly. Tables are indexed by file line number and kept in line order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.flags import numeric, text
from xl_pmpm.core.hours_basis import basis_hours
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.member_months import one_row_per_member
from xl_pmpm.core.rates import RateBook

DELETE = "delete"
DEFER = "defer"
# A suggestion to leave the row as it is (nothing applied), with a note saying what to do.
KEEP = "keep"
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


def _hours(values: pd.Series) -> pd.Series:
    return values.map(lambda h: "?" if pd.isna(h) else f"{h:.2f}").astype(str)


def _name(layout: Layout, role: str, default: str) -> str:
    column = layout.column(role)
    return default if column is None else column.name


def _joined(values: pd.Series, groups: pd.Series, sep: str) -> pd.Series:
    """`values` joined with `sep` within each group, in their order; indexed by group, sorted.

    One vectorized pass per rank within the group (a member has a few rows at most),
    no Python per group.
    """
    codes, uniques = pd.factorize(groups.to_numpy(), sort=True)
    rank = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    text = values.astype(str).to_numpy(dtype=object)
    out = np.full(len(uniques), "", dtype=object)
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        pick = rank == r
        at = codes[pick]
        out[at] = out[at] + (sep if r else "") + text[pick]
    return pd.Series(out, index=uniques, dtype=object)


def split_members(
    findings: pd.DataFrame,
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    month: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """The `duplicate-member` rows of members on more than one contract: (line, note).

    Seed 001: the tier is the range of the member's direct care hours for the month,
    over all contracts. Keeping one such row and deleting the others would bill only
    one contract's hours, often at a lower tier, so review leaves these rows as they
    are and the note says what to do by hand: add up the hours, put the total on the
    row `visits` would keep (`member_months.one_row_per_member`: the payer's PMPM
    contract, else the contract with the most hours, equal hours by name), give it the
    tier of the total and delete the other lines. Members whose duplicate rows share
    one contract are not listed (true duplicates: the first row is kept, as before).
    The note names lines, contracts and hours only, no member data.
    """
    empty = pd.DataFrame({"line": pd.Series(dtype="int64"), "note": pd.Series(dtype=str)})
    dups = findings[
        (findings["code"] == "duplicate-member")
        & findings["row"].notna()
        & findings["row"].isin(table.index)
    ]
    if dups.empty or layout.column("contract") is None:
        return empty
    dups = dups.drop_duplicates("row")
    lines = dups["row"].astype("int64").to_numpy()
    rows = pd.DataFrame(
        {
            "line": lines,
            "member": dups["value"].fillna("").astype(str).to_numpy(),
            "contract": text(table, layout, "contract").loc[lines].to_numpy(),
            "billed": numeric(table, layout, "billed_hours").loc[lines].to_numpy(),
        }
    ).sort_values("line", kind="stable")
    split = rows.groupby("member")["contract"].transform("nunique") > 1
    rows = rows[split.to_numpy()].reset_index(drop=True)
    if rows.empty:
        return empty

    # The rule `visits` follows for the member's one row: its contract and summed hours.
    sums = (
        rows.groupby(["member", "contract"], sort=True)["billed"]
        .sum(min_count=1)
        .reset_index()
        .rename(columns={"member": "patient_number"})
    )
    one = one_row_per_member(sums, book).set_index("patient_number")
    unreadable = rows["billed"].isna().groupby(rows["member"]).any()
    payers = book.payer_for_contracts(one["contract"].astype(str))
    # The tier of the total where the payer's basis counts billed hours only (else none).
    hours = basis_hours(book.hours_basis(payers), {"billed": one["billed"]})
    tiers = book.assign(hours, payers, month)
    pmpm = (book.pmpm_contracts(payers) == one["contract"].astype(str)).to_numpy()

    rows["chosen"] = one["contract"].astype(str).reindex(rows["member"]).to_numpy()
    rows["on_chosen"] = rows["contract"] == rows["chosen"]
    members = rows.groupby("member", sort=True)
    listing = (
        "line "
        + rows["line"].astype(str)
        + ": "
        + rows["contract"]
        + ", "
        + _hours(rows["billed"])
        + " h"
    )
    per_member = pd.DataFrame(
        {
            "lines": _joined(rows["line"].astype(str), rows["member"], ", "),
            "listing": _joined(listing, rows["member"], "; "),
            "added": _joined(_hours(rows["billed"]), rows["member"], " + "),
            "keep": rows[rows["on_chosen"]].groupby("member")["line"].min(),
            "first": members["line"].min(),
            "repeats": rows.duplicated(["member", "contract"]).groupby(rows["member"]).any(),
        }
    )
    per_member["keep"] = per_member["keep"].fillna(per_member["first"]).astype("int64")
    member_order = per_member.index
    total = one["billed"].reindex(member_order)
    tier = tiers["tier"].set_axis(one.index).reindex(member_order)
    why = pd.Series(
        np.where(pmpm, "the payer's PMPM contract", "the contract with the most hours"),
        index=one.index,
    ).reindex(member_order)
    moved = ~per_member.index.isin(rows.loc[rows["on_chosen"], "member"])
    chosen = one["contract"].astype(str).reindex(member_order)
    tier_text = pd.Series(
        np.where(
            tier.notna().to_numpy(),
            "Tier "
            + tier.astype(str)
            + " (the tier of "
            + _hours(total)
            + " h) and that tier's service code",
            "the tier of the total and that tier's service code",
        ),
        index=member_order,
    )
    others = rows[rows["line"].to_numpy() != per_member["keep"].reindex(rows["member"]).to_numpy()]
    deleted = _joined(others["line"].astype(str), others["member"], ", ")
    deleted = deleted.reindex(member_order).fillna("")
    billed_name = _name(layout, "billed_hours", "Billed Hours")
    contract_name = _name(layout, "contract", "Contract")

    head = (
        "Review leaves lines "
        + per_member["lines"]
        + " as they are: the same member under different contracts ("
        + per_member["listing"]
        + "). A PMPM is billed once per member and month on the hours of all its "
        "contracts, so keeping one row and deleting the others would bill only part of "
        "them. "
    )
    fix = (
        f"Add up their {billed_name} ("
        + per_member["added"]
        + " = "
        + _hours(total)
        + "), put the total on line "
        + per_member["keep"].astype(str)
        + pd.Series(
            np.where(moved, f" and change its {contract_name} to " + chosen + " (" + why + ")", ""),
            index=member_order,
        )
        + pd.Series(np.where(moved, "", " (" + why + ")"), index=member_order)
        + ", give it "
        + tier_text
        + ", then delete line(s) "
        + deleted
        + "."
    )
    bad = unreadable.reindex(member_order).to_numpy()
    fix = fix.where(
        ~bad,
        f"Correct the {billed_name} marked '?' ("
        + per_member["added"]
        + "), then add them up, put the total on one row with the tier of that total "
        "and delete the other lines.",
    )
    caution = pd.Series(
        np.where(
            per_member["repeats"].to_numpy(),
            " Two of these lines are on the same contract: if one repeats the other, "
            "leave it out of the total.",
            "",
        ),
        index=member_order,
    )
    note = (head + fix + caution).reindex(rows["member"]).to_numpy()
    return pd.DataFrame({"line": rows["line"].astype("int64").to_numpy(), "note": note})


def suggest_actions(
    findings: pd.DataFrame,
    flags: pd.DataFrame,
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    month: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """What a careful biller would do with each flagged row: (line, action, reason, note).

    Rows with errors are deleted (kept in the archive for correction next time),
    except the first row of a duplicated member; rows whose tier the unbilled
    hours would change are deferred. The rows of a member under several contracts
    (`split_members`) are neither deleted nor deferred: they get KEEP, reason
    `duplicate-member` and a note saying which hours to add up on which line.
    `note` is '' for the other suggestions. KEEP rows change nothing when applied.
    """
    held = split_members(findings, table, layout, book, month)
    held_lines = pd.Index(held["line"])
    row_errors = findings[
        (findings["severity"] == "error")
        & findings["row"].notna()
        & (findings["row"] > 1)
        & findings["code"].isin(SET_ASIDE_CODES)
    ]
    row_errors = row_errors[~row_errors["row"].astype("int64").isin(held_lines)]
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
            "note": "",
        }
    )
    at_risk = flags.index[flags.get("at_risk", pd.Series(False, index=flags.index)).astype(bool)]
    at_risk = at_risk.difference(pd.Index(deletes["line"])).difference(held_lines)
    effect = flags.loc[at_risk, "dollar_effect"] if len(at_risk) else pd.Series(dtype=float)
    defers = pd.DataFrame(
        {
            "line": at_risk.astype("int64"),
            "action": DEFER,
            "reason": "tier-at-risk " + effect.map("{:+,.2f}".format).to_numpy().astype(object),
            "note": "",
        }
    )
    kept = pd.DataFrame(
        {
            "line": held["line"].astype("int64"),
            "action": KEEP,
            "reason": "duplicate-member",
            "note": held["note"].astype(object),
        }
    )
    frames = [f for f in (deletes, defers, kept) if len(f)]
    if not frames:
        return pd.DataFrame(
            {
                "line": pd.Series(dtype="int64"),
                "action": pd.Series(dtype=object),
                "reason": pd.Series(dtype=object),
                "note": pd.Series(dtype=object),
            }
        )
    return pd.concat(frames, ignore_index=True).sort_values("line", ignore_index=True)
