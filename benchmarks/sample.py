"""A realistic, entirely invented CDPAP PMPM Tier Report/Extract.

Deterministic for a seed. Development scaffolding, not part of the installed package:
it made the bundled sample (`xl-pmpm demo`), and the tests, the benchmarks and
`docs/examples/make_examples.py` generate their extracts with it (`benchmarks.sample`,
from the repository's root). No real person's data: names are drawn from short
lists of common given and family names, IDs are random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook

AGENCY_ID = "48213"
OFFICE_ID = "702"
# The four kinds of contract a NY FI bills PMPM under: linked, UPR, internal,
# and a separate PMPM-only contract with payer-specific codes.
CONTRACTS = [
    "Linked - Metro MLTC CDPAP",
    "UPR - Hudson Valley MLTC",
    "Elderplan CDPAP Internal",
    "Sample Health Plan PMPM",
]
GIVEN = [
    "María",
    "José",
    "Zoë",
    "Nguyễn Thị",
    "Aaliyah",
    "Chen",
    "Fatou",
    "Dmitri",
    "Siobhán",
    "Ana",
    "Kwame",
    "Priya",
    "Renée",
    "Yusuf",
    "Łukasz",
    "Grace",
    "Mohammed",
    "Inés",
    "Olga",
    "Samuel",
]
FAMILY = [
    "García",
    "Smith",
    "Ó Briain",
    "Kowalski",
    "Nguyễn",
    "Cohen",
    "Diallo",
    "Rodríguez",
    "Johnson",
    "Petrov",
    "Müller",
    "Williams",
    "Haddad",
    "Santos",
    "Brown",
    "Kim",
    "Lefèvre",
    "Okafor",
    "Rossi",
    "Park",
]


# Where a real extract's many contracts come from: each kind above, per borough or region.
REGIONS = ["Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island", "Nassau", "Suffolk", "Erie"]


# A real extract's shape (the benchmarks): 32 contracts of Zipf-like sizes, every name
# "Family, Given" (a value a CSV writer must quote on every line) and nearly every member's
# name their own (`distinct_names`), IDs with leading zeros.
REAL_SHAPE = {"contracts": 32, "comma_names": 1.0, "distinct_names": True}

# Family names beyond FAMILY, of two or three of these syllables ("Kasdor", "Minoski"): a
# statewide list of members holds tens of thousands of family names, not twenty.
SYLLABLES = (
    "ba", "be", "dor", "el", "ez", "ford", "gar", "hal", "ich", "jan", "kas", "ko",
    "la", "lin", "mar", "mi", "no", "ov", "pet", "quin", "ra", "rus", "si", "ski",
    "sol", "ta", "ton", "ur", "vu", "wen", "yel", "zo",
)  # fmt: skip
INITIALS = np.array(list("ABCDEFGHIJKLMNOPRSTW"))


def contract_names(count: int) -> list[str]:
    """`count` contract names: the four above, then each kind per region (up to 36)."""
    more = [f"{base} - {region}" for region in REGIONS for base in CONTRACTS]
    return (CONTRACTS + more)[:count]


def contract_shares(count: int, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like shares of `count` contracts (the k-th largest about 1/k of the largest),
    in a random order: a real agency has a few large contracts and many small ones."""
    weights = 1.0 / np.arange(1, count + 1) ** 1.1
    return rng.permutation(weights / weights.sum())


def member_names(
    rng: np.random.Generator, n: int, comma_share: float = 0.0, distinct: bool = False
) -> np.ndarray:
    """`n` invented names "Given Family"; `comma_share` of them "Family, Given" as
    HHAeXchange's extracts write them (a CSV writer must quote those).

    With `distinct`, names as varied as a real list of members' (90 % of 66,666 members'
    names distinct, 65 % of a million's: common names repeat): a tenth of the family names
    from FAMILY, the others made of SYLLABLES, and a middle initial for 60 % of members.
    Without, the 400 names of GIVEN and FAMILY only (the tests' small extracts)."""
    given = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)].astype(object)
    family = np.array(FAMILY)[rng.integers(0, len(FAMILY), n)].astype(object)
    if distinct:
        syllables = np.array(SYLLABLES, dtype=object)
        made = (
            syllables[rng.integers(0, len(syllables), n)]
            + syllables[rng.integers(0, len(syllables), n)]
        )
        longer = rng.random(n) < 0.5
        made[longer] += syllables[rng.integers(0, len(syllables), int(longer.sum()))]
        made = np.char.capitalize(made.astype(str)).astype(object)
        family = np.where(rng.random(n) < 0.1, family, made)
        middle = rng.random(n) < 0.6
        given[middle] += " " + INITIALS[rng.integers(0, len(INITIALS), int(middle.sum()))] + "."
    if not comma_share:
        return given + " " + family
    comma = rng.random(n) < comma_share
    return np.where(comma, family + ", " + given, given + " " + family)


def generate_extract(
    members: int,
    month: str,
    layout: Layout,
    book: RateBook,
    *,
    seed: int = 2443,
    mangle: bool = True,
    below_minimum: bool = True,
    contracts: int = 4,
    comma_names: float = 0.0,
    distinct_names: bool = False,
) -> pd.DataFrame:
    """A tier report of `members` rows (all text, layout columns in order).

    With `mangle`, a handful of rows carry what Excel and hand-editing do to such
    files: IDs in scientific notation, reformatted dates, a formula prefix, a
    blank row, a wrong tier, a wrong service code and a duplicated member.
    With `below_minimum`, about 2 % of members have under one billed hour.
    Shaped like a real extract (the benchmarks): `contracts` contracts of Zipf-like
    sizes (`contract_shares`), `comma_names` of the names "Family, Given", nearly every
    name a member's own with `distinct_names` (`member_names`).
    """
    rng = np.random.default_rng(seed)
    period = pd.Period(month, freq="M")
    first = period.start_time
    n = members
    if contracts == len(CONTRACTS):
        contract = np.array(CONTRACTS)[rng.choice(4, size=n, p=[0.4, 0.25, 0.2, 0.15])]
    else:
        shares = contract_shares(contracts, rng)
        contract = np.array(contract_names(contracts))[rng.choice(contracts, size=n, p=shares)]
    mix = [0.42, 0.33, 0.13, 0.10, 0.02] if below_minimum else [0.43, 0.34, 0.13, 0.10, 0.0]
    kind = rng.choice(5, size=n, p=mix)
    billed = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            rng.uniform(1, 159, n),
            rng.uniform(160, 479, n),
            rng.uniform(480, 24 * period.days_in_month, n),  # no more hours than the month has
            np.where(rng.random(n) < 0.5, rng.uniform(140, 159.75, n), rng.uniform(455, 479.75, n)),
        ],
        default=rng.uniform(0, 0.99, n),
    ).round(2)
    unbilled = np.where(
        kind == 3, rng.uniform(5, 40, n), np.where(rng.random(n) < 0.3, rng.uniform(0, 12, n), 0.0)
    ).round(2)
    patient = rng.choice(10**9, size=n, replace=False)
    patient_number = np.char.zfill(patient.astype(str), 10)
    names = member_names(rng, n, comma_names, distinct_names)
    skilled = rng.random(n) < 0.12

    payers = book.payer_for_contracts(pd.Series(contract))
    tiers = book.assign(pd.Series(billed), payers, first)
    service = np.where(
        skilled, tiers["skilled_service_code"].fillna(""), tiers["service_code"].fillna("")
    )
    # Rows under one billed hour show Tier 1 in the extract, as billed hours round up there.
    service = np.where(tiers["tier"].isna(), "2443", service)
    tier_text = tiers["tier"].astype("string").fillna("1")

    day = first.strftime("%Y-%m-%d")
    col = {c.role: c.name for c in layout.columns if c.role}
    data = {
        col["agency_id"]: AGENCY_ID,
        col["office_id"]: OFFICE_ID,
        col["patient_number"]: patient_number,
        col["schedule_start"]: np.where(rng.random(n) < 0.2, f"{day} 03:00 AM", f"{day} 03:00"),
        col["schedule_end"]: np.where(rng.random(n) < 0.2, f"{day} 03:15 AM", f"{day} 03:15"),
        col["visit_start"]: f"{day} 03:00",
        col["visit_end"]: f"{day} 03:15",
        col["caregiver_code"]: "1000",
        col["pay_rate"]: "Non Payable",
        col["discipline"]: np.where(skilled, "Other (Skilled)", "PA"),
        col["contract"]: contract,
        col["service_code"]: service,
        col["patient_name"]: names,
        col["billed_hours"]: [f"{h:.2f}" for h in billed],
        col["unbilled_hours"]: [f"{h:.2f}" for h in unbilled],
        col["tier"]: tier_text.to_numpy(),
    }
    frame = pd.DataFrame(data)[[c.name for c in layout.columns if not c.optional]].astype(str)
    if mangle and n >= 40:
        frame = _mangle(frame, col, rng, day)
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return frame


def _mangle(
    frame: pd.DataFrame, col: dict[str, str], rng: np.random.Generator, day: str
) -> pd.DataFrame:
    frame = frame.copy()
    rows = rng.choice(np.arange(1, len(frame) - 1), size=9, replace=False)
    pid = frame.at[rows[0], col["patient_number"]]
    frame.at[rows[0], col["patient_number"]] = (
        f"{int(pid):.5E}"  # as Excel shows a long number: 4.12346E+08
    )
    frame.at[rows[1], col["agency_id"]] = f"{float(frame.at[rows[1], col['agency_id']]):.1f}"
    y, m, d = day.split("-")
    frame.at[rows[2], col["visit_start"]] = f"{int(m)}/{int(d)}/{y} 3:00"
    frame.at[rows[3], col["schedule_end"]] = f"{int(m)}/{int(d)}/{y} 3:15 AM"
    frame.at[rows[4], col["caregiver_code"]] = "=1000"
    wrong = {"1": "2", "2": "3", "3": "1", "": "1"}
    frame.at[rows[5], col["tier"]] = wrong[frame.at[rows[5], col["tier"]]]
    code = frame.at[rows[6], col["service_code"]]
    frame.at[rows[6], col["service_code"]] = "2445" if code != "2445" else "2443"
    # A member's row repeated (pasted twice): the same contract, so a true duplicate. A
    # member on two contracts is not one (its hours add up: `review.split_members`).
    dup = frame.iloc[[rows[8]]].copy()
    blank = pd.DataFrame([[""] * frame.shape[1]], columns=frame.columns)
    cut = len(frame) // 2
    return pd.concat([frame.iloc[:cut], blank, frame.iloc[cut:], dup], ignore_index=True)


def extract_csv(frame: pd.DataFrame) -> bytes:
    """The extract as HHAeXchange writes it: UTF-8, CRLF lines."""
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
