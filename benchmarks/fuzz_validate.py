"""Random mutations of the bundled sample through `xl-pmpm validate`: never an exit 3.

    python benchmarks/fuzz_validate.py --minutes 10 [--seed 14] [--keep DIR]

Each input is the bundled sample (xl_pmpm/data/sample_tier_report.csv) with one to
four random mutations: a cell replaced by a hostile value (invisible characters,
Excel error values, look-alike digits, impossible years and numbers, formulas,
quotes, line breaks, delimiters), bytes flipped, inserted or cut, lines doubled,
dropped or swapped, the header damaged, the encoding changed. Each goes through
`xl-pmpm validate FILE --format json` in this process (cli.app.main, the same entry
point as the console script, without a process start per input) with stderr
captured. Counted: inputs, exit codes, and stderr lines that are not the CLI's
own `error:` line (a pandas RuntimeWarning, a traceback). Inputs that exit 3 or
write such lines are kept in --keep for a rerun. Exit status 1 if any were found.
The sample holds invented members only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xl_pmpm.cli import app  # noqa: E402
from xl_pmpm.core.hygiene import EXCEL_ERRORS  # noqa: E402

SAMPLE = Path(app.files.bundled("sample_tier_report.csv"))

HOSTILE = [
    "",
    " ",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u00a0",
    "\u200e",
    "\u202e",
    "\u00ad",
    *EXCEL_ERRORS,
    "７７.１７",
    "٧٧.١٧",
    "４８２１３",
    "1e23",
    "1e308",
    "-1e308",
    "inf",
    "NaN",
    "100000000000000000000000",
    str(2**63),
    str(2**64),
    "-" + str(2**63),
    "01",
    "Tier 1",
    "0",
    "-0",
    "0.001",
    "800",
    "3026-10-01 03:00",
    "0001-10-01 03:00",
    "9999-12-31 23:59",
    "1677-09-21 00:12",
    "2262-04-11 23:47",
    "2026-02-30 03:00",
    "2026-10-01 25:00",
    "2026-10-01 03:00 PM",
    "10/1/2026 3:00",
    "46296.125",
    "=1+1",
    "-Smith",
    "+15551234",
    "@SUM(1)",
    '\u200b=HYPERLINK("x","y")',
    "-cmd|' /C calc'!A0",
    '"',
    '""',
    '"a,b"',
    "a\rb",
    "a\nb",
    "a\r\nb",
    ",",
    ";",
    "\t",
    "Total",
    "Agency ID",
    "x" * 300,
    "é",
    "\U0001f600",
    "\x00",
    "\\",
    "%s",
    "{0}",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of a CSV's bytes."""
    kind = rng.choice(
        ["cell", "cell", "cell", "cell", "flip", "insert", "cut", "line", "header", "encoding"]
    )
    if kind == "cell":
        lines = data.split(b"\r\n")
        n = rng.randrange(len(lines))
        cells = lines[n].split(b",")
        value = rng.choice(HOSTILE)
        if rng.random() < 0.3:
            value = rng.choice(HOSTILE) + value + rng.choice(HOSTILE)
        cells[rng.randrange(len(cells))] = value.encode("utf-8", "surrogatepass")
        lines[n] = b",".join(cells)
        return b"\r\n".join(lines)
    if kind == "flip" and data:
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if kind == "insert":
        at = rng.randrange(len(data) + 1)
        junk = rng.choice(
            [bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))), b"\r", b"\n", b'"']
        )
        return data[:at] + junk + data[at:]
    if kind == "cut" and data:
        a = rng.randrange(len(data))
        return data[:a] + data[a + rng.randint(1, 200) :]
    if kind == "line":
        lines = data.split(b"\r\n")
        n = rng.randrange(len(lines))
        op = rng.choice(["double", "drop", "swap", "blank"])
        if op == "double":
            lines.insert(n, lines[n])
        elif op == "drop":
            lines.pop(n)
        elif op == "swap":
            m = rng.randrange(len(lines))
            lines[n], lines[m] = lines[m], lines[n]
        else:
            lines.insert(n, b"")
        return b"\r\n".join(lines)
    if kind == "header":
        head, _, rest = data.partition(b"\r\n")
        cells = head.split(b",")
        cells[rng.randrange(len(cells))] = rng.choice(HOSTILE).encode("utf-8", "surrogatepass")
        if rng.random() < 0.3:
            cells.append(b"")
        return b",".join(cells) + b"\r\n" + rest
    if kind == "encoding":
        text = data.decode("utf-8", "replace")
        enc = rng.choice(["utf-16", "utf-8-sig", "cp1252", "latin-1"])
        return text.encode(enc, "replace")
    return data


def run_one(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        code = app.main(["validate", str(path), "--format", "json", "--as-of", "2026-11-05"])
    noise = [
        line
        for line in err.getvalue().splitlines()
        if line.strip() and not line.startswith("error: ")
    ]
    noise += [f"{w.category.__name__}: {w.message}" for w in caught]
    if code in (0, 1):
        json.loads(out.getvalue())  # the report is whole, valid JSON
    return code, "\n".join(noise)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", default="fuzz_failures", help="folder for failing inputs")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    base = SAMPLE.read_bytes()
    codes: Counter[int] = Counter()
    bad: list[str] = []
    end = time.monotonic() + args.minutes * 60
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.csv"
        while time.monotonic() < end:
            data = base
            for _ in range(rng.randint(1, 4)):
                data = mutate(data, rng)
            path.write_bytes(data)
            n += 1
            code, noise = run_one(path)
            codes[code] += 1
            if code not in (0, 1, 2) or noise:
                keep = Path(args.keep)
                keep.mkdir(parents=True, exist_ok=True)
                name = f"input_{n:06d}_exit{code}.csv"
                (keep / name).write_bytes(data)
                bad.append(f"{name}: exit {code}; {noise[:200]}")
    summary = {
        "seed": args.seed,
        "minutes": args.minutes,
        "inputs": n,
        "exit_codes": {str(k): v for k, v in sorted(codes.items())},
        "exit_3": codes.get(3, 0),
        "stderr_noise": len(bad) - codes.get(3, 0),
        "kept": bad[:20],
    }
    print(json.dumps(summary, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
