"""Build ASC X12 835 (5010 X221A1) files for tests, from the structure of the standard.

    text = interchange([transaction("Sample Health Plan", [claim("0001", "1", 146.45, 146.45)])])

An interchange: ISA (fixed width, its separators declared in it), GS, one ST...SE per
transaction (one payer each: BPR, TRN, N1*PR, N1*PE, LX, the claims, PLB), GE, IEA.
A claim: CLP, its CAS, NM1*QC, DTM*232/233, and one SVC line with DTM*472.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Claim:
    pcn: str  # CLP01, the patient control number
    status: str  # CLP02
    charge: float
    paid: float
    member_id: str = ""  # NM1*QC NM109
    month: str = "2026-10"  # statement dates: the month's first and last day
    code: str = "2443"  # SVC01's procedure code (the code paid)
    billed_code: str = ""  # SVC06's (the code billed, when the payer changed it)
    cas: list[tuple[str, str, float]] = field(default_factory=list)  # claim level
    payer_claim_id: str = ""
    lines: bool = True  # with an SVC line


def claim(pcn: str, status: str, charge: float, paid: float, **kw: object) -> Claim:
    return Claim(pcn, status, charge, paid, **kw)  # type: ignore[arg-type]


def _last_day(month: str) -> str:
    import calendar

    y, m = map(int, month.split("-"))
    return f"{y:04d}{m:02d}{calendar.monthrange(y, m)[1]:02d}"


def claim_segments(c: Claim, e: str = "*", k: str = ":") -> list[str]:
    first = c.month.replace("-", "") + "01"
    segs = [
        e.join(["CLP", c.pcn, c.status, f"{c.charge:.2f}", f"{c.paid:.2f}", "0", "MC",
                c.payer_claim_id or f"ICN{c.pcn}", "32", "1"]),
    ]  # fmt: skip
    for group, reason, amount in c.cas:
        segs.append(e.join(["CAS", group, reason, f"{amount:.2f}"]))
    segs.append(e.join(["NM1", "QC", "1", "DOE", "JANE", "", "", "", "MI", c.member_id]))
    segs.append(e.join(["DTM", "232", first]))
    segs.append(e.join(["DTM", "233", _last_day(c.month)]))
    if c.lines:
        svc = ["SVC", f"HC{k}{c.code}", f"{c.charge:.2f}", f"{c.paid:.2f}", "", "1"]
        if c.billed_code:
            svc += [f"HC{k}{c.billed_code}"]
        segs.append(e.join(svc))
        segs.append(e.join(["DTM", "472", first]))
    return segs


def transaction(
    payer: str,
    claims: list[Claim],
    *,
    paid_date: str = "20261120",
    trace: str = "EFT0001",
    plb: list[tuple[str, str, float]] = (),  # (reason, reference, amount)
    control: str = "0001",
    e: str = "*",
    k: str = ":",
) -> list[str]:
    total = sum(c.paid for c in claims) - sum(a for _, _, a in plb)
    segs = [
        e.join(["ST", "835", control, "005010X221A1"]),
        e.join(["BPR", "I", f"{total:.2f}", "C", "ACH", "CCP", "01", "999999999", "DA",
                "123456", "1512345678", "", "01", "999988880", "DA", "98765", paid_date]),
        e.join(["TRN", "1", trace, "1512345678"]),
        e.join(["DTM", "405", paid_date]),
        e.join(["N1", "PR", payer, "XV", payer[:3].upper() + "01"]),
        e.join(["N1", "PE", "SAMPLE FI", "XX", "1234567893"]),
        e.join(["LX", "1"]),
    ]  # fmt: skip
    for c in claims:
        segs += claim_segments(c, e, k)
    if plb:
        pairs: list[str] = []
        for reason, reference, amount in plb:
            pairs += [f"{reason}{k}{reference}", f"{amount:.2f}"]
        segs.append(e.join(["PLB", "1234567893", paid_date[:4] + "1231", *pairs]))
    segs.append(e.join(["SE", str(len(segs) + 1), control]))
    return segs


def interchange(
    transactions: list[list[str]],
    *,
    e: str = "*",
    k: str = ":",
    t: str = "~",
    newline: bool = True,
    control: str = "000000001",
) -> str:
    isa = e.join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "PAYER".ljust(15),
                  "ZZ", "SAMPLEFI".ljust(15), "261120", "1200", "^", "00501", control,
                  "0", "P", k])  # fmt: skip
    segs = [isa, e.join(["GS", "HP", "PAYER", "SAMPLEFI", "20261120", "1200", "1", "X",
                         "005010X221A1"])]  # fmt: skip
    for tx in transactions:
        segs += tx
    segs += [e.join(["GE", str(len(transactions)), "1"]), e.join(["IEA", "1", control])]
    return (t + ("\n" if newline else "")).join(segs) + t + ("\n" if newline else "")
