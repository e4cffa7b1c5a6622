"""835 remittances per member-month: was each PMPM paid, at the tier billed, and what can
still be re-billed?

An ASC X12 835 (5010, X221A1) is the payer's answer to the claims HHAeXchange sent. In
the words of the workflow:

- a *claim* is one CLP loop: CLP01 is the claim's patient control number, CLP02 its
  status (`CLAIM_STATUS`: 1-3 processed, 4 denied, 22 a reversal of an earlier
  payment), CLP03 the amount charged, CLP04 the amount paid, CLP07 the payer's own
  claim number;
- the *patient* is NM1*QC (its NM109 the payer's member ID; NM1*IL, the insured, when
  there is no QC ID);
- the *statement dates* are DTM*232 (from) and DTM*233 (through): the PMPM's service
  month is the from date's month (HHAeXchange sends the 1st of the month, seed 001);
  without them a service line's DTM*472 / DTM*150;
- a *service line* is SVC: SVC01 the code the payer paid (`HC:2444`), SVC06 the code
  billed when the payer changed it (X221: present only then), SVC03 the line's payment;
- an *adjustment* is a CAS group (CO contractual, PR patient, OA other, PI payer
  initiated, CR correction) with reason codes (CARC, their meanings are data:
  `data/carc.csv`) and amounts, on the claim or on a line;
- a *provider adjustment* is PLB: money taken or added for the provider as a whole
  (an overpayment recovered, interest), not for one claim; listed apart.

`RemittanceReader` turns a file's segments into claim and PLB rows. `judge_remittance`
matches each PMPM claim to its ledger member-month and gives each member-month one
result (`RESULTS`); `paid_vs_billed` sums them per month and payer for the KPIs.

Matching. A claim is a PMPM claim when a service line's code is one of the rate table's
PMPM codes (rate, service, skilled service or HCPCS code), or it has no service line
and charges a rate of the table. The member: through the crosswalk (the payer's member
ID, then the patient control number, to a Patient Number) when one is given, else the
patient control number, then the member ID, if it is a Patient Number in the ledger;
compared by `values.member_key`, as the ledger compares members. The month: the
statement dates'.

Results per member-month, from all its claims in order of payment (a reversal takes
back an earlier payment with negative amounts, so the amounts are summed):

- `reversed`: the last claim is a reversal (CLP02 22) and no correction followed;
- `denied`: the last claim is denied (CLP02 4, or 23 not the payer's), or nothing is
  paid in all; the CARC is the largest adjustment's;
- `paid-lower-tier`: paid less than the tier billed's rate, at a lower tier's code
  (SVC01) or a lower tier's rate exactly;
- `underpaid`: paid less than the tier billed's rate, by `difference`;
- `paid`: paid at least the rate of the tier billed;
- `no-remittance`: exported, no claim in the files, and more days since the export than
  the payer's `remittance_days` (payer settings); fewer are *awaiting* (counted only).

A member-month whose correction followed a reversal carries `corrected` = True. A claim
matched to no ledger member-month is *unmatched* (`UNMATCHED`), listed apart.

Plain functions over DataFrames; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.claims import submission_window
from xl_pmpm.core.entries import EXPORTED
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.kpi import billed_member_months
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.spans import round_cents
from xl_pmpm.core.values import member_key

# CLP02, the claim status codes of the X12 835 (5010).
CLAIM_STATUS: dict[str, str] = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to another payer",
    "20": "processed as secondary, forwarded to another payer",
    "21": "processed as tertiary, forwarded to another payer",
    "22": "reversal of a previous payment",
    "23": "not the payer's claim, forwarded",
    "25": "predetermination pricing only, no payment",
}
REVERSAL = "22"
DENIED_STATUS = ("4", "23")
# CAS01, the claim adjustment group codes.
ADJUSTMENT_GROUPS: dict[str, str] = {
    "CO": "contractual obligation",
    "CR": "correction and reversal",
    "OA": "other adjustment",
    "PI": "payer-initiated reduction",
    "PR": "patient responsibility",
}

PAID = "paid"
UNDERPAID = "underpaid"
LOWER_TIER = "paid-lower-tier"
DENIED = "denied"
REVERSED = "reversed"
NO_REMITTANCE = "no-remittance"
# Each result: what it means, what to do.
RESULTS: dict[str, tuple[str, str]] = {
    PAID: ("Paid at the rate of the tier billed.", ""),
    UNDERPAID: (
        "Paid below the rate of the tier billed, by the difference.",
        "Check the contract's billing rate (xl-pmpm service-setup --billing-rates), then "
        "appeal the difference or correct and re-bill.",
    ),
    LOWER_TIER: (
        "Paid at a lower tier's code or rate than the tier billed.",
        "Check the member's billed hours for the month; if the tier billed is right, "
        "appeal with the hours.",
    ),
    DENIED: (
        "Denied by the payer: the CARC says why.",
        "Fix what the reason code names and resubmit inside the submission window.",
    ),
    REVERSED: (
        "The payer reversed its payment (claim status 22) and sent no correction.",
        "Ask the payer why; re-bill if the PMPM is owed.",
    ),
    NO_REMITTANCE: (
        "Exported, but no claim in the 835 files after the payer's remittance days.",
        "Check the claim's status with the payer; resubmit if it never arrived.",
    ),
}
RECOVERABLE = (UNDERPAID, LOWER_TIER, DENIED, REVERSED, NO_REMITTANCE)
# Why a PMPM claim matched no ledger member-month.
UNMATCHED: dict[str, str] = {
    "member-unknown": "No Patient Number in the ledger for the claim's patient control number "
    "or member ID: give a crosswalk (--crosswalk).",
    "month-not-billed": "The member is in the ledger, but no export of the claim's month.",
    "no-dates": "The claim has no statement or service dates: its month is unknown.",
}

CLAIM_COLUMNS = [
    "order",  # the claim's place among all read (files in the order given)
    "source",
    "segment",
    "payer",
    "payer_id",
    "trace",
    "paid_date",
    "claim_id",
    "status",
    "charge",
    "paid",
    "patient_share",
    "payer_claim_id",
    "member_id",
    "statement_from",
    "statement_to",
    "service_date",
    "billed_code",
    "paid_code",
    "adjustments",
    "carc_group",
    "carc",
]
_MONEY = ("charge", "paid", "patient_share")
PLB_COLUMNS = [
    "source",
    "segment",
    "payer",
    "provider",
    "fiscal_date",
    "reason",
    "reference",
    "amount",
]
RESULT_COLUMNS = [
    "month",
    "patient_number",
    "contract",
    "payer",
    "tier",
    "rate",
    "paid",
    "difference",
    "result",
    "paid_tier",
    "carc",
    "carc_meaning",
    "claims",
    "corrected",
    "payer_claim_id",
    "paid_date",
    "exported_at",
    "submit_until",
    "days_left",
]
CENT = 0.005


@dataclass(slots=True)
class Segment:
    """One X12 segment: `elements[0]` its ID, `elements[i]` its i-th element."""

    number: int  # 1 = the file's first segment
    offset: int  # byte offset of its first byte in the file
    elements: list[str]

    @property
    def tag(self) -> str:
        return self.elements[0]

    def get(self, i: int) -> str:
        """Element `i` (1-based, as X12 numbers them), "" when absent."""
        return self.elements[i] if i < len(self.elements) else ""

    def where(self, i: int | None = None) -> str:
        element = f", element {self.tag}{i:02d}" if i is not None else ""
        return f"segment {self.number} ({self.tag}) at byte {self.offset}{element}"


def malformed(source: str, segment: Segment | None, message: str, fix: str = "") -> PmpmInputError:
    """A malformed 835: the error names the segment and where it is in the file."""
    where = f"{segment.where()}: " if segment is not None else ""
    return PmpmInputError(
        where + message,
        file=source,
        fix=fix or "Ask the payer (or the clearinghouse) for the 835 file again, as sent.",
    )


class RemittanceReader:
    """Claim rows (CLAIM_COLUMNS) and PLB rows (PLB_COLUMNS) from an 835's segments.

    `feed` each segment in order; `claims` and `plb` collect the rows as tuples (cheap to
    hold by the million; the caller may take and clear them as it goes). A segment that
    breaks the 835's rules raises `PmpmInputError` naming it (`malformed`).
    """

    def __init__(self, source: str, order: int = 0) -> None:
        self.source = source
        self.order = order
        self.claims: list[tuple] = []
        self.plb: list[tuple] = []
        self._claim: list | None = None
        self._adjustments: list[tuple[str, str, float]] = []
        self._in_line = False
        self._header: list[str] = ["", "", "", ""]  # payer, payer_id, trace, paid_date
        self._in_835 = False
        self._in_payer = False
        self._insured = ""

    # -- values ------------------------------------------------------------------------
    def _money(self, seg: Segment, i: int, required: bool = True) -> float:
        text = seg.get(i)
        if not text and not required:
            return 0.0
        try:
            return float(text)
        except ValueError:
            raise malformed(
                self.source,
                seg,
                f"{seg.tag}{i:02d} '{text}' is not an amount.",
            ) from None

    def _date(self, seg: Segment, i: int) -> str:
        text = seg.get(i)
        month, day = text[4:6], text[6:]
        if len(text) == 8 and text.isdigit() and "01" <= month <= "12" and "01" <= day <= "31":
            return f"{text[:4]}-{month}-{day}"
        raise malformed(self.source, seg, f"{seg.tag}{i:02d} '{text}' is not a date CCYYMMDD.")

    # -- segments ----------------------------------------------------------------------
    def feed(self, seg: Segment, component: str = ":") -> None:
        tag = seg.tag
        if tag == "CLP":
            self._close()
            self._open(seg)
        elif tag == "CAS":
            self._cas(seg)
        elif tag == "SVC":
            self._svc(seg, component)
        elif tag == "DTM":
            self._dtm(seg)
        elif tag == "NM1":
            self._nm1(seg)
        elif tag == "ST":
            self._close()
            if seg.get(1) != "835":
                raise malformed(
                    self.source,
                    seg,
                    f"transaction set {seg.get(1) or '(none)'}, not an 835 remittance.",
                    "Give 835 files only (a 999 or 277 answers another question).",
                )
            self._in_835 = True
            self._header = ["", "", "", ""]
        elif tag == "BPR":
            self._header[3] = self._date(seg, 16) if seg.get(16) else ""
        elif tag == "TRN":
            self._header[2] = seg.get(2)
        elif tag == "N1":
            self._in_payer = seg.get(1) == "PR"
            if self._in_payer:
                self._header[0] = seg.get(2)
                self._header[1] = seg.get(4)
        elif tag == "REF" and self._in_payer and seg.get(1) == "2U" and not self._header[1]:
            self._header[1] = seg.get(2)
        elif tag == "PLB":
            self._close()
            self._plb(seg, component)
        elif tag == "SE":
            self._close()
            self._in_835 = False

    def finish(self) -> None:
        self._close()

    def _open(self, seg: Segment) -> None:
        if not self._in_835:
            raise malformed(self.source, seg, "CLP outside an 835 transaction set.")
        for i, name in ((1, "the patient control number"), (2, "the claim status")):
            if not seg.get(i):
                raise malformed(self.source, seg, f"CLP{i:02d} ({name}) is empty.")
        status = seg.get(2)
        if status not in CLAIM_STATUS:
            raise malformed(self.source, seg, f"CLP02 '{status}' is not a claim status code.")
        payer, payer_id, trace, paid_date = self._header
        self._claim = [
            self.order,
            self.source,
            seg.number,
            payer,
            payer_id,
            trace,
            paid_date,
            seg.get(1),
            status,
            self._money(seg, 3),
            self._money(seg, 4),
            self._money(seg, 5, required=False),
            seg.get(7),
            "",  # member_id
            "",  # statement_from
            "",  # statement_to
            "",  # service_date
            "",  # billed_code
            "",  # paid_code
        ]
        self.order += 1
        self._adjustments = []
        self._in_line = False
        self._insured = ""

    def _close(self) -> None:
        claim = self._claim
        if claim is None:
            return
        if not claim[13]:
            claim[13] = self._insured
        adjustments = self._adjustments
        text = "; ".join(f"{g}-{r} {a:.2f}" for g, r, a in adjustments)
        if adjustments:
            group, reason, _ = max(adjustments, key=lambda x: abs(x[2]))
        else:
            group, reason = "", ""
        self.claims.append((*claim, text, group, reason))
        self._claim = None

    def _cas(self, seg: Segment) -> None:
        if self._claim is None:
            raise malformed(self.source, seg, "CAS outside a claim (no CLP before it).")
        group = seg.get(1)
        if group not in ADJUSTMENT_GROUPS:
            raise malformed(self.source, seg, f"CAS01 '{group}' is not an adjustment group.")
        for i in range(2, min(len(seg.elements), 20), 3):
            reason = seg.get(i)
            if not reason:
                continue
            self._adjustments.append((group, reason, self._money(seg, i + 1)))
        if not self._adjustments:
            raise malformed(self.source, seg, "CAS without a reason code and amount.")

    def _svc(self, seg: Segment, component: str) -> None:
        if self._claim is None:
            raise malformed(self.source, seg, "SVC outside a claim (no CLP before it).")
        parts = seg.get(1).split(component)
        if len(parts) < 2 or not parts[1]:
            raise malformed(self.source, seg, "SVC01 names no procedure code.")
        self._money(seg, 2)
        self._money(seg, 3)
        self._in_line = True
        if not self._claim[18]:
            self._claim[18] = parts[1]
            billed = seg.get(6).split(component)
            self._claim[17] = billed[1] if len(billed) > 1 and billed[1] else parts[1]

    def _dtm(self, seg: Segment) -> None:
        if self._claim is None:
            return  # the transaction's own dates (production date)
        kind = seg.get(1)
        if kind == "232":
            self._claim[14] = self._date(seg, 2)
        elif kind == "233":
            self._claim[15] = self._date(seg, 2)
        elif kind in ("472", "150") and self._in_line and not self._claim[16]:
            self._claim[16] = self._date(seg, 2)

    def _nm1(self, seg: Segment) -> None:
        if self._claim is None:
            return
        role = seg.get(1)
        if role == "QC" and seg.get(9):
            self._claim[13] = seg.get(9)
        elif role == "IL" and seg.get(9):
            self._insured = seg.get(9)

    def _plb(self, seg: Segment, component: str) -> None:
        provider, fiscal = seg.get(1), self._date(seg, 2)
        for i in range(3, min(len(seg.elements), 15), 2):
            if not seg.get(i):
                continue
            parts = seg.get(i).split(component)
            self.plb.append(
                (
                    self.source,
                    seg.number,
                    self._header[0],
                    provider,
                    fiscal,
                    parts[0],
                    parts[1] if len(parts) > 1 else "",
                    self._money(seg, i + 1),
                )
            )


def claims_frame(rows: Iterable[tuple]) -> pd.DataFrame:
    """Claim rows (tuples in CLAIM_COLUMNS order) as a typed DataFrame."""
    frame = pd.DataFrame.from_records(list(rows), columns=CLAIM_COLUMNS)
    return typed_claims(frame)


def typed_claims(frame: pd.DataFrame) -> pd.DataFrame:
    """Amounts as floats, positions as ints, text as strings; a text column that repeats
    its values may be a categorical of strings (the rules below take either)."""
    types = {c: "float64" for c in _MONEY} | {"order": "int64", "segment": "int64"}
    for c in CLAIM_COLUMNS:
        if c not in types and not isinstance(frame[c].dtype, pd.CategoricalDtype):
            types[c] = "string"
    return frame.astype(types)


def _text(values: pd.Series) -> pd.Series:
    """A text column as strings (a categorical's values, not its codes)."""
    return values.astype("string")


def pmpm_codes(book: RateBook) -> set[str]:
    """Every code the rate table gives a PMPM tier (rate, service, skilled, HCPCS)."""
    rates = book.rates
    columns = [
        c for c in ("rate_code", "service_code", "skilled_service_code", "hcpcs") if c in rates
    ]
    codes = pd.concat([rates[c].astype("string") for c in columns]).dropna().str.strip()
    return set(codes[codes != ""])


def billed_for_remittance(history: pd.DataFrame, book: RateBook) -> pd.DataFrame:
    """The ledger's billed member-months (`kpi.billed_member_months`) with the day each
    was first exported (`exported_at`, YYYY-MM-DD) and the member's key."""
    billed = billed_member_months(history, book)
    done = history[history["status"] == EXPORTED]
    first = (
        done.assign(exported_at=done["exported_at"].astype(str).str[:10])
        .groupby(["patient_number", "month"], as_index=False)["exported_at"]
        .min()
        .astype({"patient_number": "string", "month": "string"})
    )
    billed = billed.merge(first, on=["patient_number", "month"], how="left")
    return billed.assign(_member=member_key(billed["patient_number"]).to_numpy())


@dataclass
class Remittance:
    """The member-months judged, the claims matched to none, the provider adjustments."""

    results: pd.DataFrame  # RESULT_COLUMNS, one row per member-month with a claim or overdue
    unmatched: pd.DataFrame  # the PMPM claims matched to no member-month, with `why`
    provider_adjustments: pd.DataFrame  # PLB_COLUMNS
    as_of: date
    claims: int = 0  # claims read
    other_claims: int = 0  # claims that are not PMPM claims (direct care), left aside
    awaiting: int = 0  # billed member-months without remittance, still inside their days
    billed: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def recoverable(self) -> pd.DataFrame:
        return self.results[self.results["result"].isin(RECOVERABLE)]

    def totals(self) -> dict:
        res = self.results
        remitted = res[res["result"] != NO_REMITTANCE]
        rec = self.recoverable
        return {
            "as_of": str(self.as_of),
            "claims": self.claims,
            "pmpm_claims": self.claims - self.other_claims,
            "other_claims": self.other_claims,
            "member_months": len(res),
            "billed_dollars": _dollars(remitted["rate"]),
            "paid_dollars": _dollars(remitted["paid"]),
            "recoverable_member_months": len(rec),
            "recoverable_dollars": _dollars(rec["difference"]),
            "by_result": {
                code: int(n)
                for code, n in res["result"].value_counts().reindex(RESULTS).dropna().items()
                if n
            },
            "unmatched_claims": len(self.unmatched),
            "awaiting_member_months": self.awaiting,
            "provider_adjustments": _dollars(self.provider_adjustments["amount"]),
        }


def _dollars(values: pd.Series) -> float:
    return float(round_cents(pd.Series([float(values.sum())]))[0]) if len(values) else 0.0


def _month_of(claims: pd.DataFrame) -> pd.Series:
    month: pd.Series | None = None
    for col in ("statement_from", "statement_to", "service_date"):
        found = _text(claims[col]).str[:7].replace("", pd.NA)
        month = found if month is None else month.fillna(found)
    return month if month is not None else pd.Series(pd.NA, index=claims.index, dtype="string")


def _members(claims: pd.DataFrame, known: set[str], crosswalk: pd.DataFrame | None) -> pd.Series:
    by_member = member_key(claims["member_id"])
    by_claim = member_key(claims["claim_id"])
    patient = pd.Series(pd.NA, index=claims.index, dtype="string")
    if crosswalk is not None and len(crosswalk):
        target = member_key(crosswalk["patient_number"])
        for column, ids in (("member_id", by_member), ("patient_control_number", by_claim)):
            if column in crosswalk:
                source = member_key(crosswalk[column])
                table = dict(zip(source[source != ""], target[source != ""], strict=True))
                patient = patient.fillna(ids.map(table).astype("string"))
    for ids in (by_claim, by_member):
        patient = patient.fillna(ids.where(ids.isin(known)).astype("string"))
    return patient


def _tier_lookup(book: RateBook, pairs: pd.DataFrame) -> pd.DataFrame:
    """payer, month, code, tier, rate of every tier in force for each (payer, month)."""
    rows: list[dict] = []
    for payer, month in pairs.itertuples(index=False):
        try:
            table = book.tier_table(str(payer), pd.Timestamp(f"{month}-01"))
        except PmpmInputError:
            continue
        columns = [
            c for c in ("rate_code", "service_code", "skilled_service_code", "hcpcs") if c in table
        ]
        for t in table.itertuples(index=False):
            for c in columns:
                code = getattr(t, c)
                if isinstance(code, str) and code.strip():
                    rows.append(
                        {
                            "payer": payer,
                            "month": month,
                            "code": code.strip(),
                            "tier": int(t.tier),
                            "tier_rate": float(t.rate),
                        }
                    )
    return pd.DataFrame(rows, columns=["payer", "month", "code", "tier", "tier_rate"])


def judge_remittance(
    claims: pd.DataFrame,
    billed: pd.DataFrame,
    book: RateBook,
    as_of: date,
    *,
    carc: Mapping[str, str],
    crosswalk: pd.DataFrame | None = None,
    provider_adjustments: pd.DataFrame | None = None,
) -> Remittance:
    """One result per member-month from the claims (CLAIM_COLUMNS) and the ledger's billed
    member-months (`billed_for_remittance`). `carc`: reason code -> meaning. See the
    module doc for the rules."""
    plb = (
        provider_adjustments
        if provider_adjustments is not None
        else pd.DataFrame(columns=PLB_COLUMNS)
    )
    codes = pmpm_codes(book)
    rates = set(np.round(book.rates["rate"].astype(float), 2))
    has_line = claims["paid_code"] != ""
    pmpm = (has_line & (claims["paid_code"].isin(codes) | claims["billed_code"].isin(codes))) | (
        ~has_line & claims["charge"].abs().round(2).isin(rates)
    )
    total, claims = len(claims), claims[pmpm.to_numpy()].copy()
    claims["month"] = _month_of(claims)
    known = set(billed["_member"])
    claims["_member"] = _members(claims, known, crosswalk)
    rows = claims.merge(
        billed[["_member", "month", "patient_number", "contract", "payer", "tier", "rate",
               "exported_at"]].rename(columns={"payer": "ledger_payer"}),
        on=["_member", "month"],
        how="left",
    )  # fmt: skip
    found = rows["patient_number"].notna()
    why = np.select(
        [rows["month"].isna(), rows["_member"].isna() | ~rows["_member"].isin(known)],
        ["no-dates", "member-unknown"],
        default="month-not-billed",
    )
    unmatched = rows[~found.to_numpy()].assign(why=why[~found.to_numpy()])
    unmatched = unmatched[[*CLAIM_COLUMNS, "month", "why"]].reset_index(drop=True)
    matched = rows[found.to_numpy()]
    matched = matched.assign(paid_date=_text(matched["paid_date"]))
    matched = matched.sort_values(["paid_date", "order"], kind="stable")

    results = _judge(matched, book, carc)
    overdue, awaiting = _no_remittance(billed, results, book, as_of)
    results = pd.concat([results, overdue], ignore_index=True) if len(overdue) else results
    results = _windows(results, book, as_of)
    results = results.sort_values(["month", "payer", "result", "patient_number"], kind="stable")
    return Remittance(
        results=results[RESULT_COLUMNS].reset_index(drop=True),
        unmatched=unmatched,
        provider_adjustments=plb.reset_index(drop=True),
        as_of=as_of,
        claims=total,
        other_claims=total - int(pmpm.sum()),
        awaiting=awaiting,
        billed=billed,
    )


def _judge(matched: pd.DataFrame, book: RateBook, carc: Mapping[str, str]) -> pd.DataFrame:
    if matched.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    keys = ["_member", "month"]
    groups = matched.groupby(keys, sort=False)
    net = groups["paid"].sum().round(2).rename("net")
    count = groups.size().rename("claims")
    is_reversal = (matched["status"] == REVERSAL).astype("int64")
    reversals = is_reversal.groupby([matched[k] for k in keys], sort=False).sum()
    reversals = reversals.rename("reversals")
    last = matched.drop_duplicates(keys, keep="last").set_index(keys)
    out = last.join([net, count, reversals]).reset_index()
    out["payer"] = out["ledger_payer"]
    rate = out["rate"].astype(float)
    short = out["net"] < rate - CENT

    lookup = _tier_lookup(book, out[["payer", "month"]].drop_duplicates())
    by_code = lookup.drop_duplicates(["payer", "month", "code"])
    tier_of_code = out[["payer", "month", "paid_code"]].merge(
        by_code.rename(columns={"code": "paid_code"}), on=["payer", "month", "paid_code"],
        how="left",
    )["tier"].to_numpy()  # fmt: skip
    by_rate = lookup.assign(net=lookup["tier_rate"].round(2)).drop_duplicates(
        ["payer", "month", "net"]
    )
    tier_of_rate = (
        out[["payer", "month", "net"]]
        .merge(
            by_rate[["payer", "month", "net", "tier"]], on=["payer", "month", "net"], how="left"
        )["tier"]
        .to_numpy()
    )
    # The lower of the tier of the code paid and the tier whose rate was paid exactly.
    paid_tier = pd.concat(
        [pd.Series(tier_of_code, dtype="Float64"), pd.Series(tier_of_rate, dtype="Float64")],
        axis=1,
    ).min(axis=1)
    billed_tier = pd.to_numeric(out["tier"], errors="coerce").astype("Float64")
    lower = (paid_tier < billed_tier).fillna(False).to_numpy(dtype=bool)

    reversed_ = out["status"] == REVERSAL
    denied = ~reversed_ & (out["status"].isin(DENIED_STATUS) | (out["net"] <= CENT))
    out["result"] = np.select(
        [reversed_, denied, short & lower, short],
        [REVERSED, DENIED, LOWER_TIER, UNDERPAID],
        default=PAID,
    )
    out["paid"] = out["net"]
    # A reversal whose payment came in an earlier file nets below zero: still one rate owed.
    owed = (rate - out["net"].clip(lower=0)).round(2)
    out["difference"] = owed.where(out["result"] != PAID, 0.0)
    out["paid_tier"] = paid_tier.round().astype("Int64").to_numpy()
    show_carc = out["result"].isin([DENIED, UNDERPAID, LOWER_TIER, REVERSED]) & (out["carc"] != "")
    out["carc"] = (_text(out["carc_group"]) + "-" + _text(out["carc"])).where(show_carc, "")
    out["carc_meaning"] = [
        carc.get(c.split("-", 1)[1], "reason code not in data/carc.csv") if c else ""
        for c in out["carc"]
    ]
    out["corrected"] = (out["reversals"] > 0) & ~reversed_
    return out


def _no_remittance(
    billed: pd.DataFrame, results: pd.DataFrame, book: RateBook, as_of: date
) -> tuple[pd.DataFrame, int]:
    seen = set(zip(member_key(results["patient_number"].astype("string")), results["month"],
                   strict=True))  # fmt: skip
    keys = list(zip(billed["_member"], billed["month"], strict=True))
    waiting = billed[[k not in seen for k in keys]].copy()
    if waiting.empty:
        return waiting.iloc[0:0], 0
    days = book.remittance_days(waiting["payer"].astype(str))
    exported = pd.to_datetime(waiting["exported_at"], errors="coerce")
    due = exported + pd.to_timedelta(days.to_numpy(), unit="D")
    late = (due < pd.Timestamp(as_of)).fillna(False).to_numpy(dtype=bool)
    overdue = waiting[late].assign(
        paid=0.0,
        difference=waiting.loc[late, "rate"].astype(float),
        result=NO_REMITTANCE,
        paid_tier=pd.NA,
        carc="",
        carc_meaning="",
        claims=0,
        corrected=False,
        payer_claim_id="",
        paid_date="",
    )
    return overdue, int((~late).sum())


def _windows(results: pd.DataFrame, book: RateBook, as_of: date) -> pd.DataFrame:
    """The submission window's last day and the days left to resubmit, per member-month."""
    if results.empty:
        return results.assign(submit_until=pd.Series(dtype="string"), days_left=0)
    days = book.submission_days(results["payer"].astype(str))
    last: dict[tuple[str, int], date] = {}
    until = []
    for month, n in zip(results["month"], days, strict=True):
        if (month, n) not in last:
            last[month, n] = submission_window(month, int(n))[1]
        until.append(last[month, n])
    left = [(u - as_of).days for u in until]
    return results.assign(submit_until=[str(u) for u in until], days_left=left)


def in_window(results: pd.DataFrame) -> pd.DataFrame:
    """The recoverable member-months still inside their submission window."""
    rec = results[results["result"].isin(RECOVERABLE)]
    return rec[rec["days_left"] >= 0]


PAID_TABLES = ("paid_vs_billed_by_month", "paid_vs_billed_by_payer")


def paid_vs_billed(found: Remittance) -> dict[str, pd.DataFrame]:
    """Per month, and per month and payer: member-months and dollars billed (the ledger),
    remitted (a claim in the 835s), paid, the share of billed dollars paid (0-1), and the
    recoverable dollars."""
    billed = found.billed
    res = found.results

    def table(by: list[str]) -> pd.DataFrame:
        b = billed.groupby(by).agg(billed_member_months=("rate", "size"), billed=("rate", "sum"))
        remitted = res[res["result"] != NO_REMITTANCE]
        r = remitted.groupby(by).agg(remitted_member_months=("rate", "size"), paid=("paid", "sum"))
        rec = res[res["result"].isin(RECOVERABLE)].groupby(by)["difference"].sum()
        out = b.join(r, how="outer").join(rec.rename("recoverable"), how="outer").fillna(0)
        out = out.reset_index()
        for c in ("billed", "paid", "recoverable"):
            out[c] = round_cents(out[c].astype(float))
        for c in ("billed_member_months", "remitted_member_months"):
            out[c] = out[c].astype("int64")
        share = out["paid"] / out["billed"].where(out["billed"] > 0)
        out["paid_share"] = share.round(4)
        return out

    return {
        "paid_vs_billed_by_month": table(["month"]),
        "paid_vs_billed_by_payer": table(["month", "payer"]),
    }


__all__ = [
    "CLAIM_COLUMNS",
    "PLB_COLUMNS",
    "RESULTS",
    "RECOVERABLE",
    "Remittance",
    "RemittanceReader",
    "Segment",
    "billed_for_remittance",
    "claims_frame",
    "judge_remittance",
    "malformed",
    "paid_vs_billed",
    "pmpm_codes",
]
