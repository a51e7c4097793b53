"""A generator of hostile workbooks, each built from a small valid one by one change.

`KINDS` maps a name to (builder, the refusal code the scan must give). Builders take a directory
and return the path of the file written there. The valid starting point (`legit`) is a
hand-assembled package with the 婚姻及死亡登记 (mz_civil) header and one row, so each hostile
file differs from an accepted one by the attack alone. Used by test_hostile_xlsx.py and
bench/bench_hostile_xlsx.py.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from ejia.core.idnumber import make

HEADER = ["证件号码", "姓名", "事件类型", "事件日期", "登记机关"]
ROW = [make("371602", __import__("datetime").date(1950, 1, 1), 11), "张三", "死亡", "2025-01-01", "滨城区"]

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHEET_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _cell(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def rows_xml(rows: list[list[str]]) -> str:
    out = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{chr(65 + c)}{r}", v) for c, v in enumerate(row))
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out)


def sheet_xml(inner: str | None = None, *, head: str = DECL, dimension: str = "") -> bytes:
    inner = rows_xml([HEADER, ROW]) if inner is None else inner
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (head + f'<worksheet xmlns="{MAIN_NS}">{dim}<sheetData>{inner}</sheetData></worksheet>').encode()


def package(sheet: bytes | None = None, *, sheet_name: str = "xl/worksheets/sheet1.xml", extra=None) -> dict:
    """The parts of a minimal workbook: name -> bytes (ordered)."""
    target = sheet_name.removeprefix("xl/")
    parts = {
        "[Content_Types].xml": (
            DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f'<Override PartName="/{sheet_name}" ContentType="{SHEET_TYPE}"/></Types>'
        ).encode(),
        "_rels/.rels": (
            DECL + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ).encode(),
        "xl/workbook.xml": (
            DECL + f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>'
            '<sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ).encode(),
        "xl/_rels/workbook.xml.rels": (
            DECL + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{SHEET_REL}" Target="{target}"/></Relationships>'
        ).encode(),
        sheet_name: sheet if sheet is not None else sheet_xml(),
    }
    parts.update(extra or {})
    return parts


def write(path: Path, parts: dict | list, method: int = zipfile.ZIP_DEFLATED) -> Path:
    items = parts.items() if isinstance(parts, dict) else parts
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def _patch_central(path: Path, member: str, *, offset: int, fmt: str, value: int) -> Path:
    """Overwrite one field of a member's central directory entry (to lie about it)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == member.encode():
            struct.pack_into(fmt, data, at + offset, value)
            path.write_bytes(bytes(data))
            return path
        at = data.find(b"PK\x01\x02", at + 4)
    raise ValueError(member)


# ---------------------------------------------------------------- the kinds

SHEET = "xl/worksheets/sheet1.xml"
BODY = rows_xml([HEADER, ROW])


def legit(d: Path) -> Path:
    return write(d / "legit.xlsx", package())


def legit_dat(d: Path) -> Path:
    """A valid workbook whose sheet has an unusual name: accepted (the name is not the attack)."""
    return write(d / "legit_dat.xlsx", package(sheet_name="xl/worksheets/sheet1.dat"))


def dat_sheet_doctype(d: Path) -> Path:
    evil = sheet_xml(head=DECL + '<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    return write(d / "dat_doctype.xlsx", package(evil, sheet_name="xl/worksheets/sheet1.dat"))


def dat_sheet_formula(d: Path) -> Path:
    inner = BODY + '<row r="3"><c r="A3"><f>HYPERLINK("http://evil.example","点击")</f><v>0</v></c></row>'
    return write(d / "dat_formula.xlsx", package(sheet_xml(inner), sheet_name="xl/worksheets/sheet1.dat"))


def sheet_as_binary_name(d: Path) -> Path:
    """A worksheet stored as xl/media/image1.png, named a worksheet only by the package."""
    inner = BODY + '<row r="3"><c r="B3"><f>1+1</f><v>2</v></c></row>'
    return write(d / "png_sheet.xlsx", package(sheet_xml(inner), sheet_name="xl/media/image1.png"))


def billion_laughs(d: Path) -> Path:
    entities = '<!ENTITY a "lol">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    evil = sheet_xml(BODY.replace("张三", "&j;"), head=DECL + f"<!DOCTYPE worksheet [{entities}]>")
    return write(d / "laughs.xlsx", package(evil))


def xxe_shared_strings(d: Path) -> Path:
    sst = (DECL + '<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           f'<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>&xxe;</t></si></sst>').encode()  # fmt: skip
    return write(d / "xxe_sst.xlsx", package(extra={"xl/sharedStrings.xml": sst}))


def doctype_in_image(d: Path) -> Path:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b'<!DOCTYPE x [<!ENTITY e SYSTEM "http://evil.example/">]>'
    return write(d / "image_doctype.xlsx", package(extra={"xl/media/image2.png": png}))


def doctype_across_chunks(d: Path) -> Path:
    """The declaration straddles the scanner's 64 KiB chunk boundary."""
    pad = " " * (64 * 1024 - len(DECL) - 4)
    styles = (DECL + pad + '<!DOCTYPE s [<!ENTITY x "y">]>' + f'<styleSheet xmlns="{MAIN_NS}"/>').encode()
    return write(d / "chunk_doctype.xlsx", package(extra={"xl/styles.xml": styles}))


def lowercase_doctype(d: Path) -> Path:
    return write(d / "lower_doctype.xlsx", package(sheet_xml(head=DECL + "<!doctype worksheet>")))


def zip_bomb(d: Path) -> Path:
    bomb = sheet_xml(BODY + " " * (24 * 1024 * 1024))
    return write(d / "bomb.xlsx", package(bomb))


def lying_directory(d: Path) -> Path:
    """The central directory claims a 300 MB worksheet."""
    path = write(d / "lying.xlsx", package())
    return _patch_central(path, SHEET, offset=24, fmt="<I", value=300 * 1024 * 1024)


def many_members(d: Path) -> Path:
    extra = {f"xl/customXml/item{i}.xml": b"<a/>" for i in range(800)}
    return write(d / "many.xlsx", package(extra=extra))


def nested_zip(d: Path) -> Path:
    inner = write(d / "inner.zip", package())
    return write(d / "nested.xlsx", package(extra={"xl/embeddings/data.bin": inner.read_bytes()}))


def ole_macro(d: Path) -> Path:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    return write(d / "macro.xlsx", package(extra={"xl/vbaProject.bin": ole}))


def formula_injection(d: Path) -> Path:
    inner = BODY + '<row r="3"><c r="C3" t="str"><f>cmd|\' /C calc\'!A0</f><v>x</v></c></row>'
    return write(d / "formula.xlsx", package(sheet_xml(inner)))


def prefixed_formula(d: Path) -> Path:
    sheet = (DECL + f'<x:worksheet xmlns:x="{MAIN_NS}"><x:sheetData>'
             + BODY.replace("<row", "<x:row").replace("</row>", "</x:row>")
             + '<x:row r="3"><x:c r="D3"><x:f>SUM(A1:A2)</x:f><x:v>0</x:v></x:c></x:row>'
             "</x:sheetData></x:worksheet>").encode()  # fmt: skip
    return write(d / "prefixed.xlsx", package(sheet))


def huge_shared_strings(d: Path) -> Path:
    sst = (DECL + f'<sst xmlns="{MAIN_NS}" count="100000000" uniqueCount="100000000"><si><t>x</t></si></sst>').encode()
    return write(d / "huge_sst.xlsx", package(extra={"xl/sharedStrings.xml": sst}))


def far_column(d: Path) -> Path:
    return write(d / "far.xlsx", package(sheet_xml(BODY + '<row r="3"><c r="XFD3"><v>1</v></c></row>')))


def huge_dimension(d: Path) -> Path:
    return write(d / "dim.xlsx", package(sheet_xml(dimension="A1:XFD1048576")))


def sparse_rows(d: Path) -> Path:
    inner = BODY + '<row r="500000"><c r="A500000"><v>1</v></c></row>'
    return write(d / "sparse.xlsx", package(sheet_xml(inner)))


def wide_sparse_grid(d: Path) -> Path:
    """100,000 rows with one cell each in column BL: few cells, but the reader's dense grid would
    hold 100,000 × 64 slots."""
    inner = BODY + "".join(f'<row r="{r}"><c r="BL{r}"><v>1</v></c></row>' for r in range(3, 100_003))
    return write(d / "wide_sparse.xlsx", package(sheet_xml(inner)))


def huge_declared_area(d: Path) -> Path:
    return write(d / "area.xlsx", package(sheet_xml(dimension="A1:BL4000000")))


def cells_without_reference(d: Path) -> Path:
    """Cells with no r attribute take the next column each: 5,000 of them in one row."""
    inner = BODY + '<row r="3">' + "<c><v>1</v></c>" * 5000 + "</row>"
    return write(d / "noref.xlsx", package(sheet_xml(inner)))


def utf16_sheet(d: Path) -> Path:
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE w [<!ENTITY x "y">]>' + sheet_xml(head="").decode()
    return write(d / "utf16.xlsx", package(text.encode("utf-16")))


def utf7_declared(d: Path) -> Path:
    head = '<?xml version="1.0" encoding="UTF-7"?>+ADw-+ACE-DOCTYPE w+AD4-'
    return write(d / "utf7.xlsx", package(sheet_xml(head=head)))


def encrypted_member(d: Path) -> Path:
    path = write(d / "encrypted.xlsx", package())
    return _patch_central(path, SHEET, offset=8, fmt="<H", value=0x1)


def bzip2_member(d: Path) -> Path:
    return write(d / "bzip2.xlsx", package(), method=zipfile.ZIP_BZIP2)


def duplicate_names(d: Path) -> Path:
    """Two members called sheet1.xml: a scanner reading the first and a parser the last differ."""
    evil = sheet_xml(BODY + '<row r="3"><c r="A3"><f>1</f></c></row>')
    parts = [*package().items(), (SHEET, evil)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the point
        return write(d / "duplicate.xlsx", parts)


def long_text_run(d: Path) -> Path:
    long = "长" * 100_000
    return write(d / "long.xlsx", package(sheet_xml(BODY + f'<row r="3">{_cell("A3", long)}</row>')))


def corrupt_crc(d: Path) -> Path:
    path = write(d / "crc.xlsx", package(), method=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find("张三".encode())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def not_a_workbook(d: Path) -> Path:
    parts = package()
    del parts["xl/workbook.xml"]
    return write(d / "noworkbook.xlsx", parts)


KINDS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "dat_sheet_doctype": (dat_sheet_doctype, "xml_entity"),
    "dat_sheet_formula": (dat_sheet_formula, "formula"),
    "sheet_as_binary_name": (sheet_as_binary_name, "formula"),
    "billion_laughs": (billion_laughs, "xml_entity"),
    "xxe_shared_strings": (xxe_shared_strings, "xml_entity"),
    "doctype_in_image": (doctype_in_image, "xml_entity"),
    "doctype_across_chunks": (doctype_across_chunks, "xml_entity"),
    "lowercase_doctype": (lowercase_doctype, "xml_entity"),
    "zip_bomb": (zip_bomb, "zip_bomb"),
    "lying_directory": (lying_directory, "zip_bomb"),
    "many_members": (many_members, "zip_entries"),
    "nested_zip": (nested_zip, "nested_zip"),
    "ole_macro": (ole_macro, "embedded"),
    "formula_injection": (formula_injection, "formula"),
    "prefixed_formula": (prefixed_formula, "formula"),
    "huge_shared_strings": (huge_shared_strings, "shared_strings"),
    "far_column": (far_column, "too_many_columns"),
    "huge_dimension": (huge_dimension, "too_many_columns"),
    "sparse_rows": (sparse_rows, "sparse_sheet"),
    "cells_without_reference": (cells_without_reference, "too_many_columns"),
    "wide_sparse_grid": (wide_sparse_grid, "too_many_cells"),
    "huge_declared_area": (huge_declared_area, "too_many_cells"),
    "utf16_sheet": (utf16_sheet, "xml"),
    "utf7_declared": (utf7_declared, "xml"),
    "encrypted_member": (encrypted_member, "encrypted"),
    "bzip2_member": (bzip2_member, "zip_method"),
    "duplicate_names": (duplicate_names, "zip_duplicate"),
    "long_text_run": (long_text_run, "cell_too_long"),
    "corrupt_crc": (corrupt_crc, "bad_zip"),
    "not_a_workbook": (not_a_workbook, "bad_zip"),
}

LEGIT: dict[str, Callable[[Path], Path]] = {"legit": legit, "legit_dat": legit_dat}
