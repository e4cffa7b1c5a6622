"""Check a service-code setup export (HHAeXchange's Contract Service Codes, seed 001,
phase 1; issue 13) row by row against the rate book.

Findings follow `findings.py`, as service_setup's do; rows are the export's file lines.
"""

from __future__ import annotations

import pandas as pd

from xl_pmpm.core.claims import PLAIN_RATE_CODES, export_code
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook
from xl_pmpm.core.service_setup import as_findings, month_start, setup_finding

# The codes of the check of a setup export (`check_setup_export`).
SETUP_EXPORT_CODES = (
    "setup-code-unknown",
    "hcpcs-mismatch",
    "discipline-code-mismatch",
    "revenue-code-mismatch",
    "revenue-code-missing",
    "export-code-format",
    "no-rate",
)


# The Contract Service Code fields the check reads (seed 001, phase 1), as a setup export
# names them; `Modifier` may be absent.
SETUP_FIELDS = {
    "contract": "Contract",
    "discipline": "Discipline",
    "service_code": "Service Code",
    "description": "Description",
    "export_code": "Export Code",
    "revenue_code": "Revenue Code",
    "hcpcs": "HCPCS Code",
}
SETUP_OPTIONAL = {"modifier": "Modifier"}


def _setup_value(row: pd.Series, key: str) -> str:
    value = row.get(key, "")
    return "" if value is None or pd.isna(value) else str(value).strip()


def check_setup_export(
    setup: pd.DataFrame,
    book: RateBook,
    month: str,
    *,
    skilled: tuple[str, ...] = ("Other (Skilled)",),
    pa: str = "PA",
    plain_codes: tuple[str, ...] = PLAIN_RATE_CODES,
    hcpcs_column: str = "hcpcs",
) -> pd.DataFrame:
    """Findings about a service-code setup export, row by row, against the rate book.

    `setup`: one row per service code, columns keyed as SETUP_FIELDS (and `modifier`),
    indexed by the file's line. Each row's contract names its payer (as a tier
    report's does); its service code must be one of that payer's tier codes in
    force in `month` (the payer's own codes where the rate table has them: seed 001
    lets payers ask for "unique service codes ... replacing the Export Code, HCPCS
    Code, and/or Revenue Code values"). Then, for that tier:

    - HCPCS Code = the tier's rate code exactly (Value Code 24 comes from it);
    - Discipline = PA for the tier's PA code, Other (Skilled) for its skilled code;
    - Revenue Code = the rate table's, where it gives one (else blank is a warning
      for a payer of its own);
    - Export Code = one of 2443 / 2444 / 2445 (form locators 43/44 then stay blank),
      or `CODE:::::DESCRIPTION` with the modifier's colon counted as the first.
    """
    day = month_start(month)
    found: list[dict] = []
    tables: dict[str, pd.DataFrame | None] = {}
    for line, row in setup.iterrows():
        contract = _setup_value(row, "contract")
        code = _setup_value(row, "service_code")
        payer = book.payer_of_contract(contract)
        if payer not in tables:
            try:
                tables[payer] = book.tier_table(payer, day)
            except PmpmInputError:
                tables[payer] = None
        table = tables[payer]
        name = "the default payer" if payer == DEFAULT_PAYER else f"payer '{payer}'"
        if table is None:
            found.append(
                setup_finding(
                    "no-rate",
                    line,
                    SETUP_FIELDS["contract"],
                    contract,
                    f"No rate is in force for {name} (contract '{contract}') in {day:%Y-%m}.",
                )
            )
            continue
        as_pa = table[table["service_code"].astype("string") == code]
        as_skilled = table[table["skilled_service_code"].astype("string") == code]
        if as_pa.empty and as_skilled.empty:
            found.append(
                setup_finding(
                    "setup-code-unknown",
                    line,
                    SETUP_FIELDS["service_code"],
                    code,
                    f"Service code '{code}' (contract '{contract}', {name}) is not a tier's "
                    f"service code in the rate table for {day:%Y-%m}.",
                )
            )
            continue
        tier_row = (as_pa if not as_pa.empty else as_skilled).iloc[0]
        tier = int(tier_row["tier"])
        column = hcpcs_column if hcpcs_column in table.columns else "rate_code"
        want_hcpcs = str(tier_row[column]).strip()
        hcpcs = _setup_value(row, "hcpcs")
        if hcpcs != want_hcpcs:
            found.append(
                setup_finding(
                    "hcpcs-mismatch",
                    line,
                    SETUP_FIELDS["hcpcs"],
                    hcpcs,
                    f"Service code '{code}' is Tier {tier}: its HCPCS Code is '{hcpcs}', "
                    f"not exactly '{want_hcpcs}'.",
                )
            )
        discipline = _setup_value(row, "discipline")
        wants = (pa,) if not as_pa.empty else skilled
        either = not as_pa.empty and not as_skilled.empty  # one code for both: either fits
        if not either and discipline not in wants:
            found.append(
                setup_finding(
                    "discipline-code-mismatch",
                    line,
                    SETUP_FIELDS["discipline"],
                    discipline,
                    f"Service code '{code}' is Tier {tier}'s "
                    f"{'PA' if not as_pa.empty else 'skilled'} code: its discipline is "
                    f"{' or '.join(wants)}, not '{discipline}'.",
                )
            )
        want_revenue = _setup_value(tier_row, "revenue_code")
        revenue = _setup_value(row, "revenue_code")
        if want_revenue and revenue != want_revenue:
            found.append(
                setup_finding(
                    "revenue-code-mismatch",
                    line,
                    SETUP_FIELDS["revenue_code"],
                    revenue,
                    f"The rate table gives {name} revenue code '{want_revenue}' for Tier "
                    f"{tier}; the setup has '{revenue}'.",
                )
            )
        elif not want_revenue and not revenue and tier_row["payer"] != DEFAULT_PAYER:
            found.append(
                setup_finding(
                    "revenue-code-missing",
                    line,
                    SETUP_FIELDS["revenue_code"],
                    "",
                    f"Service code '{code}' of {name} has no revenue code.",
                )
            )
        found.extend(_export_code_findings(row, line, code, plain_codes))
    return as_findings(found)


def _export_code_findings(
    row: pd.Series, line: object, code: str, plain_codes: tuple[str, ...]
) -> list[dict]:
    given = _setup_value(row, "export_code")
    if given in plain_codes:
        return []  # form locators 43/44 stay blank
    modifier = _setup_value(row, "modifier") or None
    try:
        want = export_code(code, _setup_value(row, "description"), modifier, blank_codes=())
    except PmpmInputError as exc:
        want, why = None, exc.message
    else:
        why = ""
    if want is not None and given == want:
        return []
    hint = f"'{want}'" if want else why
    return [
        setup_finding(
            "export-code-format",
            line,
            SETUP_FIELDS["export_code"],
            given,
            f"Export Code '{given}' is neither a plain rate code ({', '.join(plain_codes)}) "
            f"nor the service code, five colons and the description: {hint}.",
        )
    ]
