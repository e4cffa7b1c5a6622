"""The files of `xl-pmpm service-setup --billing-rates`: the export and its mapping."""

from __future__ import annotations

from pathlib import Path

from xl_pmpm.core.billing_rates import BILLING_RATE_FIELDS, BillingRateMapping
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io import files, sniff

MAPPING_FILE = "billing_rates_columns.toml"


def load_billing_rate_mapping(path: str | Path | None = None) -> BillingRateMapping:
    """The billing-rate export's headers and value words (the bundled mapping by default)."""
    p = Path(path) if path else files.bundled(MAPPING_FILE)
    raw = sniff.load_toml(
        p, "The billing-rate mapping", f"Compare it with the bundled {MAPPING_FILE}."
    )
    columns = raw.get("columns", {})
    missing = [k for k in BILLING_RATE_FIELDS if not str(columns.get(k, "")).strip()]
    if missing:
        raise PmpmInputError(
            f"The billing-rate mapping names no column for {', '.join(missing)}.",
            file=str(p),
            fix=f"Add them under [columns], as in the bundled {MAPPING_FILE}.",
        )
    words = raw.get("values", {}).get("active", list(BillingRateMapping.active))
    formats = raw.get("format", {}).get("date_formats", list(BillingRateMapping.date_formats))
    return BillingRateMapping(
        columns={k: str(columns[k]).strip() for k in BILLING_RATE_FIELDS},
        active=tuple(str(w).strip().casefold() for w in words),
        date_formats=tuple(str(f) for f in formats),
        source=str(p),
    )
