"""Reading a year of 835 remittances (issue 29): `xl-pmpm paid`'s reader against pyarrow.

    python benchmarks/bench_remittance.py --claims 3000000

Writes an 835 file of CLAIMS PMPM claims (one CLP loop each: CLP, CAS, NM1*QC, DTM*232,
DTM*233, SVC, DTM*472; 500 claims per ST...SE transaction, several payers), then, each in
a fresh process, in `--repeat` alternated rounds (`benchmarks/rounds.py`: the median,
with the load average), measures wall time and peak RSS (VmHWM) of:

- `io.remittance.read_remittances` (the streaming tokenizer and the 835 rules: one claim
  row per CLP, typed, in Arrow-backed columns), the part of `xl-pmpm paid` that grows
  with the files;
- the floor: pyarrow's CSV reader reading the same bytes as one text column per segment
  (`~` + newline terminated lines), which only splits lines and parses nothing.

Prints the figures and the ratio; nothing is asserted. The goal (issue 29): ~3M claims
within 1 GiB.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.rounds import alternate  # noqa: E402

PAYERS = ("METRO MLTC", "HUDSON VALLEY MLTC", "ELDERPLAN", "SAMPLE HEALTH PLAN")
RATES = (("2443", 146.45), ("2444", 387.84), ("2445", 1046.36))
PER_SET = 500


def write_835(path: Path, claims: int) -> int:
    """An interchange of `claims` claims; returns its size in bytes."""
    isa = (
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*SAMPLEFI       *261120*1200*^*"
        "00501*000000001*0*P*:~\n"
    )
    sets = (claims + PER_SET - 1) // PER_SET
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(isa + "GS*HP*PAYER*SAMPLEFI*20261120*1200*1*X*005010X221A1~\n")
        n = 0
        for s in range(sets):
            count = min(PER_SET, claims - n)
            payer = PAYERS[s % len(PAYERS)]
            body = [
                f"ST*835*{s:09d}*005010X221A1~",
                "BPR*I*0*C*ACH*CCP*01*999999999*DA*1*1512345678**01*999988880*DA*9*20261120~",
                f"TRN*1*T{s}*1512345678~",
                f"N1*PR*{payer}*XV*P{s % len(PAYERS)}~",
                "N1*PE*SAMPLE FI*XX*1234567893~",
                "LX*1~",
            ]
            for i in range(n, n + count):
                code, rate = RATES[i % 3]
                paid = rate if i % 10 else rate - 20
                month = 1 + i % 12
                first, last = f"2026{month:02d}01", f"2026{month:02d}28"
                body += [
                    f"CLP*{i:010d}*1*{rate:.2f}*{paid:.2f}*0*MC*ICN{i}*32*1~",
                    f"CAS*CO*45*{rate - paid:.2f}~",
                    f"NM1*QC*1*DOE*JANE****MI*M{i:09d}~",
                    f"DTM*232*{first}~",
                    f"DTM*233*{last}~",
                    f"SVC*HC:{code}*{rate:.2f}*{paid:.2f}**1~",
                    f"DTM*472*{first}~",
                ]
            body.append(f"SE*{len(body) + 1}*{s:09d}~")
            out.write("\n".join(body) + "\n")
            n += count
        out.write(f"GE*{sets}*1~\nIEA*1*000000001~\n")
    return path.stat().st_size


CHILD = {
    "reader": (
        "from xl_pmpm.io.remittance import read_remittances\n"
        "claims, plb = read_remittances([PATH])\n"
        "rows = len(claims)\n"
    ),
    "pyarrow": (
        "import pyarrow.csv as pc\n"
        "t = pc.read_csv(PATH, read_options=pc.ReadOptions(column_names=['segment'], "
        "block_size=1 << 24), parse_options=pc.ParseOptions(delimiter='\\x01', "
        "quote_char=False), convert_options=pc.ConvertOptions(column_types={'segment': "
        "'string'}))\n"
        "rows = t.num_rows\n"
    ),
}


def measure(kind: str, path: Path) -> dict:
    code = (
        "import json, time\n"
        "t0 = time.perf_counter()\n"
        + CHILD[kind].replace("PATH", repr(str(path)))
        + "wall = time.perf_counter() - t0\n"
        "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if "
        "x.startswith('VmHWM'))\n"
        "print(json.dumps({'rows': rows, 'seconds': wall, 'peak_mib': hwm / 1024}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=3_000_000)
    ap.add_argument("--keep", help="write the 835 here and keep it")
    ap.add_argument("--repeat", type=int, default=3, help="alternated rounds (the median counts)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench835_"))
    path = Path(args.keep) if args.keep else folder / "year.835"
    t0 = time.perf_counter()
    size = write_835(path, args.claims)
    print(
        f"wrote {args.claims:,} claims, {size / 2**20:,.0f} MiB in {time.perf_counter() - t0:.0f} s"
    )
    rounds = alternate(
        {kind: functools.partial(measure, kind, path) for kind in ("pyarrow", "reader")},
        args.repeat,
    )
    print(f"medians of {args.repeat} alternated rounds, load average {rounds.load()}")
    print(
        f"pyarrow read_csv (segments as lines): {rounds.median('pyarrow'):.1f} s, "
        f"peak {rounds.peak('pyarrow'):.0f} MiB, {rounds.runs['pyarrow'][0]['rows']:,} segments"
    )
    print(
        f"xl-pmpm read_remittances: {rounds.median('reader'):.1f} s, "
        f"peak {rounds.peak('reader'):.0f} MiB, {rounds.runs['reader'][0]['rows']:,} claims; "
        f"{rounds.ratio('reader', 'pyarrow'):.1f}x the floor's time"
    )
    if not args.keep:
        path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
