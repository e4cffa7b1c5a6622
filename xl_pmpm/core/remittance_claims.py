"""The 835's claims, read from its segments: the words of an ASC X12 835 (5010, X221A1)
and the rows they become.

An 835 is the payer's answer to the claims HHAeXchange sent. In the words of the workflow:


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

`RemittanceReader` turns a file's segments (`Segment`, split by `io.x12`) into claim
rows (`CLAIM_COLUMNS`) and PLB rows (`PLB_COLUMNS`); `typed_claims` types them. A
segment that breaks the 835's rules is `malformed`, named with its place in the file.
The matching to the ledger is `core.remittance_match`'s.

Plain code over segments and DataFrames; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError

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


__all__ = [
    "ADJUSTMENT_GROUPS",
    "CLAIM_COLUMNS",
    "CLAIM_STATUS",
    "DENIED_STATUS",
    "PLB_COLUMNS",
    "REVERSAL",
    "RemittanceReader",
    "Segment",
    "claims_frame",
    "malformed",
    "typed_claims",
]
