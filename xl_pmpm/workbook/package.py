"""The .xlsm package: openpyxl's output plus the VBA project and the ribbon.

openpyxl's zip is copied part by part with a fixed entry order and fixed times, the
content types and relationships of a macro-enabled workbook with a ribbon added, so
two builds give the same parts. The finished file is never passed back through
openpyxl, which would drop the customUI14 relationship.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import xlwings

from xl_pmpm.workbook import macros
from xl_pmpm.workbook.sheet_xml import SheetExtras, sheet_extras_by_part, write_sheet_part
from xl_pmpm.workbook.vba.project import VbaModule, module_from_file

XLWINGS_DIR = Path(xlwings.__file__).parent
# Fixed values for reproducible parts.
FIXED_TIMESTAMP = "2024-01-01T00:00:00Z"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
CONTENT_TYPE_XLSX = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CONTENT_TYPE_XLSM = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CONTENT_TYPE_VBA = "application/vnd.ms-office.vbaProject"
REL_UI = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"


def vba_modules(code_names: Sequence[str]) -> list[VbaModule]:
    """The ribbon callbacks, the cell-function wrappers, xlwings' module and Dictionary
    class, ThisWorkbook and one document module per sheet."""
    modules = [
        VbaModule(macros.RIBBON_MODULE, macros.ribbon_module(), "standard"),
        VbaModule(macros.UDF_MODULE_NAME, macros.udf_module(), "standard"),
    ]
    modules += [
        module_from_file(XLWINGS_DIR / "xlwings.bas"),
        module_from_file(XLWINGS_DIR / "addin" / "Dictionary.cls"),
    ]
    modules.append(VbaModule("ThisWorkbook", "Option Explicit\r\n", "document"))
    modules += [VbaModule(name, "Option Explicit\r\n", "document") for name in code_names]
    return modules


def _add_relationship(rels: bytes, rel_id: str, rel_type: str, target: str) -> bytes:
    entry = f'<Relationship Id="{rel_id}" Type="{rel_type}" Target="{target}"/>'
    return rels.replace(b"</Relationships>", entry.encode() + b"</Relationships>")


_SMALL_PARTS = ("[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels")


def _macro_parts(small: dict[str, bytes]) -> dict[str, bytes]:
    """The parts that turn openpyxl's output into a macro-enabled workbook with a ribbon.

    `small` holds the content types, the root and workbook relationships and
    docProps/core.xml as openpyxl wrote them; returns their new contents.
    """
    types = small["[Content_Types].xml"].replace(CONTENT_TYPE_XLSX, CONTENT_TYPE_XLSM)
    if b'Extension="bin"' not in types:
        types = types.replace(
            b"<Default ",
            f'<Default Extension="bin" ContentType="{CONTENT_TYPE_VBA}"/><Default '.encode(),
            1,
        )
    if b'Extension="xml"' not in types:
        types = types.replace(
            b"</Types>",
            b'<Override PartName="/customUI/customUI14.xml" ContentType="application/xml"/>'
            b"</Types>",
        )
    core = small["docProps/core.xml"].decode("utf-8")
    for tag in ("created", "modified"):
        core = re.sub(
            rf"(<dcterms:{tag}[^>]*>)[^<]*(</dcterms:{tag}>)", rf"\g<1>{FIXED_TIMESTAMP}\g<2>", core
        )
    return {
        "[Content_Types].xml": types,
        "_rels/.rels": _add_relationship(
            small["_rels/.rels"], "rIdPmpmRibbon", REL_UI, "customUI/customUI14.xml"
        ),
        "xl/_rels/workbook.xml.rels": _add_relationship(
            small["xl/_rels/workbook.xml.rels"], "rIdPmpmVba", REL_VBA, "vbaProject.bin"
        ),
        "docProps/core.xml": core.encode("utf-8"),
    }


def write_package(
    xlsx: IO[bytes],
    vba_project: bytes,
    custom_ui: bytes,
    out: IO[bytes],
    extras: Mapping[str, SheetExtras] | None = None,
) -> None:
    """Copy openpyxl's package `xlsx` into `out` as the .xlsm: fixed entry order and times.

    Content types and root relationships come first; the sheets are streamed part by
    part (a filled copy's sheet XML can be hundreds of megabytes), never held whole.
    `extras` (by sheet name) are spliced into their sheets' XML (`sheet_xml`).
    """
    with zipfile.ZipFile(xlsx) as source:
        names = source.namelist()
        changed = _macro_parts({n: source.read(n) for n in (*_SMALL_PARTS, "docProps/core.xml")})
        spliced = sheet_extras_by_part(
            extras or {}, source.read("xl/workbook.xml"), source.read("xl/_rels/workbook.xml.rels")
        )
        changed["xl/vbaProject.bin"] = vba_project
        changed["customUI/customUI14.xml"] = custom_ui
        first = ["[Content_Types].xml", "_rels/.rels"]
        order = first + sorted(n for n in {*names, *changed} if n not in first)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for name in order:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                if name in changed:
                    target.writestr(info, changed[name])
                    continue
                if name in spliced:
                    with target.open(info, "w", force_zip64=True) as dst:
                        write_sheet_part(source.read(name), spliced[name], dst)
                    continue
                with source.open(name) as src, target.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
