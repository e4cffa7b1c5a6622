"""ASC X12 interchanges read as segments: the bytes of an 835, none of its meaning.

`segments(path)` streams a file's segments as `Segment(number, offset, elements)`:
`elements[0]` is the segment ID (`CLP`), `elements[1]` its first element (`CLP01`), and
so on; composite elements stay whole (`HC:2443`), split with `Segment.parts`. The
separators are the ones the interchange declares in its ISA header, which has a fixed
shape: the element separator is the byte after `ISA`, the component separator is ISA16
and the segment terminator is the byte after ISA16 (line breaks after a terminator are
allowed and skipped). The file is read in blocks, never whole, so a year of remittances
fits in memory.

The envelope is checked as it streams: ISA/IEA, GS/GE and ST/SE in pairs, each closing
segment's count (IEA01 groups, GE01 transaction sets, SE01 segments including ST and SE)
as found, and the file ending on a terminator. A file that breaks one of these raises
`PmpmInputError` naming the segment, its number in the file and its byte offset.

Why not a parser from PyPI (issue 29, looked at 2026-12-06 from their descriptions and
code excerpts, not benchmarked): LinuxForHealth `x12` builds a pydantic model per segment
with pydantic 1 validators and states Python 3.8/3.9; `pyx12` validates against its XML
maps (wrappers such as py835 build on it); `badX12` lists its features as "TODO";
`edi-835-parser` and `openx12` parse a file into their own objects, not a stream of rows;
`oxedi835` (Rust) was yanked and renamed. What `paid` needs is a stream of plain segments
with their positions, at a statewide FI's volume, with no new dependency: a tokenizer of
a few dozen lines over the separators the ISA declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xl_pmpm.core.remittance_claims import Segment, malformed

BLOCK = 1 << 22  # bytes read at a time
ISA_ELEMENTS = 16
# An ISA is 106 bytes with its terminator; a header this long must hold one.
ISA_MAX = 200
ENCODING = "latin-1"  # one byte, one character: offsets stay byte offsets
_PAIRS = {"IEA": "ISA", "GE": "GS", "SE": "ST"}
_ENVELOPE = frozenset(("ISA", "GS", "ST", "SE", "GE", "IEA"))


@dataclass(frozen=True)
class Delimiters:
    """The separators an ISA header declares."""

    element: str
    component: str
    segment: str
    repetition: str


def read_delimiters(head: str, path: str) -> Delimiters:
    """The separators declared by the ISA header at the start of `head`."""
    text = head.lstrip("\ufeff \r\n\t")
    if not text.startswith("ISA") or len(text) < 4:
        raise malformed(
            path,
            None,
            "not an X12 file: it does not start with an ISA interchange header.",
            "Give the 835 remittance file as received (not a PDF, spreadsheet or report).",
        )
    element = text[3]
    fields = text.split(element, ISA_ELEMENTS)
    if len(fields) <= ISA_ELEMENTS or len(fields[ISA_ELEMENTS]) < 2:
        raise malformed(
            path,
            Segment(1, 0, ["ISA"]),
            f"the ISA header does not have its {ISA_ELEMENTS} elements and a terminator.",
        )
    return Delimiters(
        element=element,
        component=fields[ISA_ELEMENTS][0],
        segment=fields[ISA_ELEMENTS][1],
        repetition=fields[11] if len(fields[11]) == 1 else "^",
    )


def segments(path: str | Path) -> Iterator[tuple[Delimiters, Segment]]:
    """Every segment of an X12 file, in order, with its interchange's delimiters."""
    name = str(path)
    with open(path, "rb") as stream:
        head = stream.read(ISA_MAX).decode(ENCODING)
        delimiters = read_delimiters(head, name)
        buffer, offset, number = head, 0, 0
        element = delimiters.element
        open_: list[Segment] = []  # the open ISA / GS / ST
        counts = [0, 0, 0]  # groups in the ISA, sets in the GS, segments in the ST
        while True:
            block = stream.read(BLOCK)
            if block:
                buffer += block.decode(ENCODING)
            pieces = buffer.split(delimiters.segment)
            buffer = pieces.pop() if block else ""
            tail = pieces.pop() if not block and pieces else ""
            for piece in pieces:
                start = offset
                offset += len(piece) + 1
                text = piece.strip("\r\n\t ")
                if not text:
                    continue
                number += 1
                if text[0] != piece[0]:
                    start += len(piece) - len(piece.lstrip("\r\n\t "))
                segment = Segment(number, start, text.split(element))
                if segment.elements[0] in _ENVELOPE:
                    if segment.elements[0] == "ISA":
                        delimiters = _same_delimiters(delimiters, text, name, segment)
                    _envelope(segment, open_, counts, name)
                elif len(open_) == 3:
                    counts[2] += 1
                else:
                    _envelope(segment, open_, counts, name)  # outside ST...SE: refused
                yield delimiters, segment
            if not block:
                if tail.strip("\r\n\t \x1a"):
                    seg = Segment(number + 1, offset, [tail.strip()[:3]])
                    raise malformed(
                        name,
                        seg,
                        "the file ends inside a segment (no segment terminator "
                        f"'{delimiters.segment}'): it was cut short.",
                    )
                break
        if open_:
            raise malformed(
                name,
                open_[-1],
                f"the file ends before this {open_[-1].tag} is closed "
                f"(no {_closer(open_[-1].tag)}): it was cut short.",
            )
        if number == 0:
            raise malformed(name, None, "the file holds no segment.")


def _closer(tag: str) -> str:
    return {v: k for k, v in _PAIRS.items()}[tag]


def _same_delimiters(known: Delimiters, text: str, path: str, segment: Segment) -> Delimiters:
    found = read_delimiters(text + known.segment, path)
    if found.element != known.element:
        raise malformed(path, segment, "this interchange declares other separators than the first.")
    return found


def _envelope(segment: Segment, open_: list[Segment], counts: list[int], path: str) -> None:
    """ISA/GS/ST opened and closed in order, each closing segment's count as found."""
    tag = segment.tag
    level = {"ISA": 0, "GS": 1, "ST": 2}.get(tag)
    if level is not None:
        if len(open_) != level:
            if len(open_) > level:
                problem = f"the {open_[-1].tag} before it is not closed"
            else:
                problem = f"no {('ISA', 'GS')[level - 1]} before it"
            raise malformed(path, segment, f"{tag} out of place: {problem}.")
        if level > 0:
            counts[level - 1] += 1
        open_.append(segment)
        if level < 2:
            counts[level] = 0
        else:
            counts[2] = 1
        return
    if tag in _PAIRS:
        if not open_ or open_[-1].tag != _PAIRS[tag]:
            raise malformed(path, segment, f"{tag} without its {_PAIRS[tag]}.")
        level = len(open_) - 1
        if level == 2:
            counts[2] += 1
        declared = segment.get(1)
        if not declared.isdigit() or int(declared) != counts[level]:
            what = ("functional group(s)", "transaction set(s)", "segment(s)")[level]
            raise malformed(
                path,
                segment,
                f"{tag}01 says {declared or 'nothing'} but {counts[level]} {what} were found: "
                "segments are missing or the file was joined wrongly.",
            )
        open_.pop()
        return
    if len(open_) < 3:
        raise malformed(path, segment, "segment outside a transaction set (ST ... SE).")
    counts[2] += 1
