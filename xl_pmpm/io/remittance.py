"""The files behind `xl-pmpm paid`: 835 remittances, the crosswalk, the CARC meanings.

Reads each 835 with `x12.segments` (streaming) into claim rows
(`core.remittance_claims.RemittanceReader`), kept in Arrow blocks so that millions of claims
fit in memory, and hands them, with the ledger's billed member-months, to
`core.remittance_match.judge_remittance`, where the rules are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.remittance import Remittance
from xl_pmpm.core.remittance_claims import (
    CLAIM_COLUMNS,
    PLB_COLUMNS,
    RemittanceReader,
    typed_claims,
)
from xl_pmpm.core.remittance_match import billed_for_remittance, judge_remittance
from xl_pmpm.io import files, sniff
from xl_pmpm.io.csv_reader import decode_text
from xl_pmpm.io.x12 import segments

CARC_FILE = "carc.csv"
BLOCK_CLAIMS = 50_000  # claim rows turned into an Arrow block at a time
# Claim columns with one value per claim, kept as plain text; the others repeat (a payer,
# a date, a code) and are kept dictionary-encoded (pandas categoricals): a year of a
# statewide FI's claims then fits in memory.
UNIQUE = ("claim_id", "payer_claim_id", "member_id")
_SCHEMA = pa.schema(
    [
        (c, pa.float64() if c in ("charge", "paid", "patient_share") else
         pa.int64() if c in ("order", "segment") else pa.string())
        for c in CLAIM_COLUMNS
    ]
)  # fmt: skip
_STORED = pa.schema(
    [
        f if f.type != pa.string() or f.name in UNIQUE else pa.field(
            f.name, pa.dictionary(pa.int32(), pa.string())
        )
        for f in _SCHEMA
    ]
)  # fmt: skip
CROSSWALK_COLUMNS = {
    "patient number": "patient_number",
    "payer member id": "member_id",
    "member id": "member_id",
    "patient control number": "patient_control_number",
}


def _block(rows: list[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    arrays = []
    for i, col in enumerate(columns):
        array = pa.array(col, type=_SCHEMA.field(i).type)
        if _STORED.field(i).type != array.type:
            array = array.dictionary_encode()
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=_STORED)


def read_remittances(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The claims (CLAIM_COLUMNS) and provider adjustments (PLB_COLUMNS) of 835 files.

    Raises PmpmInputError naming the file, segment and byte of the first malformed one.
    """
    blocks: list[pa.RecordBatch] = []
    plb: list[tuple] = []
    order = 0
    for path in paths:
        name = str(path)
        if not Path(path).is_file():
            problem = "is a folder, not an 835 file" if Path(path).is_dir() else "not found"
            raise PmpmInputError(f"835 file {problem}.", file=name, fix="Check the path.")
        reader = RemittanceReader(Path(path).name, order)
        for delimiters, segment in segments(path):
            reader.feed(segment, delimiters.component)
            if len(reader.claims) >= BLOCK_CLAIMS:
                blocks.append(_block(reader.claims))
                reader.claims = []
        reader.finish()
        if reader.claims:
            blocks.append(_block(reader.claims))
        plb += reader.plb
        order = reader.order
    table = pa.Table.from_batches(blocks, schema=_STORED).unify_dictionaries()
    del blocks
    frame = table.to_pandas(types_mapper=_string_types, self_destruct=True, split_blocks=True)
    del table
    claims = typed_claims(frame)
    adjustments = pd.DataFrame.from_records(plb, columns=PLB_COLUMNS)
    return claims, adjustments


def _string_types(dtype: pa.DataType) -> object:
    return pd.StringDtype("pyarrow") if dtype == pa.string() else None


def read_carc(path: str | Path | None = None) -> dict[str, str]:
    """Reason code -> meaning, from `data/carc.csv` (or the agency's copy)."""
    source = Path(path) if path else files.bundled(CARC_FILE)
    text = decode_text(sniff.read_input(source, "The CARC table"))[0]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if rows and not {"code", "meaning"} <= set(rows[0]):
        raise PmpmInputError("The CARC table lacks the columns code, meaning.", file=str(source))
    return {r["code"].strip(): (r["meaning"] or "").strip() for r in rows if r.get("code")}


def read_crosswalk(path: str | Path) -> pd.DataFrame:
    """The crosswalk CSV: Patient Number and the payer's Member ID and/or the claim's
    Patient Control Number, as text (leading zeros kept)."""
    text = decode_text(sniff.read_input(Path(path), "The crosswalk"))[0]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) or []
    names = [CROSSWALK_COLUMNS.get(" ".join(h.lower().replace("_", " ").split()), "")
             for h in header]  # fmt: skip
    if "patient_number" not in names or not {"member_id", "patient_control_number"} & set(names):
        raise PmpmInputError(
            "The crosswalk needs a Patient Number column and a Member ID or Patient Control "
            "Number column.",
            file=str(path),
            row=1,
            fix="Name the columns: Patient Number, Member ID, Patient Control Number.",
        )
    rows = []
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    for record in reader:
        if not any(c.strip() for c in record):
            continue
        row = {n: (record[i].strip() if i < len(record) else "")
               for i, n in enumerate(names) if n}  # fmt: skip
        for key in ("member_id", "patient_control_number"):
            if not row.get(key):
                continue
            before = seen.setdefault((key, row[key]), (row["patient_number"], reader.line_num))
            if before[0] != row["patient_number"]:
                raise PmpmInputError(
                    f"This {key.replace('_', ' ')} is given two Patient Numbers (line "
                    f"{before[1]} and this one).",
                    file=str(path),
                    row=reader.line_num,
                    column=header[names.index(key)],
                    fix="Keep one line per ID.",
                )
        rows.append(row)
    return pd.DataFrame(rows, columns=sorted({n for n in names if n}), dtype="string")


def remittance_from_files(
    paths: Sequence[str | Path],
    history: pd.DataFrame,
    book: RateBook,
    as_of: date,
    *,
    crosswalk: str | Path | None = None,
) -> Remittance:
    """`judge_remittance` of the 835 files against the ledger's history."""
    claims, adjustments = read_remittances(paths)
    return judge_remittance(
        claims,
        billed_for_remittance(history, book),
        book,
        as_of,
        carc=read_carc(),
        crosswalk=read_crosswalk(crosswalk) if crosswalk else None,
        provider_adjustments=adjustments,
    )
