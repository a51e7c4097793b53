"""XLSX department files: a safety scan of every zip member, then the reader.

The scan trusts no name. Every member of the zip is streamed through it, whatever it is called
and whether or not [Content_Types].xml or a relationship names it (a worksheet stored as
`xl/worksheets/sheet1.dat` is still a worksheet to the reader, which follows the relationships):

- the zip directory first: member count, duplicate names (the scan would read one, the reader
  the other), encryption, compression method, declared sizes per member and in total, ratio;
- then each member's bytes, in bounded chunks, counting what really comes out: nested archives
  and OLE containers (macros, embedded objects) are refused by their magic bytes; a member that
  looks like XML must be UTF-8 (a UTF-16/UTF-7 part could hide a DOCTYPE from a byte scan);
  DOCTYPE/ENTITY is refused in any member; formulas in any XML member; for a part whose root
  element is a worksheet (or that the package calls a worksheet): the declared dimension, cell
  references past the column cap, cells per row, row numbers that jump, text runs longer than a
  cell may be; for shared strings: the declared and the real count of strings.

`read_xlsx` then parses the very file object that was scanned (no second open by name).
Refusals raise `FileRefused` with a Chinese message for the operator.
"""

from __future__ import annotations

import codecs
import datetime as dt
import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from ejia.verification.files import CHUNK, FileRefused, Table, limit

_DANGEROUS_XML = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Tag names may carry a namespace prefix (<x:c>, <x:f>): Excel accepts both forms.
_P = rb"(?:[A-Za-z_][\w.-]*:)?"
_CELL_REF = re.compile(rb"<" + _P + rb'c\b[^>]*?\sr="([A-Z]{1,4})([0-9]{1,9})"')
_CELL_COLUMN = re.compile(rb'<c r="([A-Z]{1,4})[0-9]')
_CELL_TAG = re.compile(rb"<" + _P + rb"c[\s>/]")
_ROW_SPLIT = re.compile(rb"<" + _P + rb"row[\s>/]")
_ROW_TAG = re.compile(rb"<" + _P + rb'row\b[^>]*?\sr="([0-9]{1,9})"')
_FORMULA = re.compile(rb"<" + _P + rb"f[\s>/]")
# Patterns that start with a literal are searched fast; the prefixed forms run only where a
# prefixed tag could be (see _search).
_FORMULA_PLAIN = re.compile(rb"<f[\s>/]")
_ROW_TAG_PLAIN = re.compile(rb'<row\b[^>]*?\sr="([0-9]{1,9})"')
_DIMENSION = re.compile(rb"<" + _P + rb'dimension\s+ref="([A-Z]{0,4})([0-9]{0,9})(?::([A-Z]{1,4})([0-9]{1,9}))?"')
_SHARED_ITEM = re.compile(rb"<" + _P + rb"si[\s>/]")
# uniqueCount, not count: count is every reference to a string, legitimately large.
_SST_COUNT = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?sst\b[^>]*?\suniqueCount="([0-9]{1,20})"')
_XML_DECL_ENCODING = re.compile(rb'^\s*<\?xml[^>]*?encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]")
_PART_NAME = re.compile(rb'(?:PartName|Target)\s*=\s*"([^"]+)"')
_OVERRIDE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Override\b[^>]*>")
_CONTENT_TYPE = re.compile(rb'ContentType\s*=\s*"([^"]+)"')
_RELATIONSHIP = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Relationship\b[^>]*>")
_REL_TYPE = re.compile(rb'Type\s*=\s*"([^"]+)"')

SHEET_ROOTS = {b"worksheet", b"dialogsheet", b"chartsheet", b"macrosheet"}
SAFE_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}
# Magic bytes of containers a department table has no business carrying.
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh")
OLE_MAGIC = b"\xd0\xcf\x11\xe0"


def column_index(letters: bytes | str) -> int:
    if isinstance(letters, bytes):
        letters = letters.decode("ascii")
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _refuse(message: str, code: str) -> FileRefused:
    return FileRefused(message, code=code)


# ---------------------------------------------------------------- the zip directory


def scan_xlsx(fh: BinaryIO) -> None:
    """Refuse a hostile or broken workbook before any parser sees it. `fh` is the open file the
    reader will parse afterwards."""
    fh.seek(0)
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _refuse("文件已损坏或不是有效的 XLSX 文件。", "bad_zip") from None
    infos = archive.infolist()
    _check_directory(infos)
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and not any(n.endswith("workbook.xml") for n in names):
        raise _refuse("文件不是有效的 XLSX 工作簿（缺少 workbook.xml）。", "bad_zip")
    # The package's own index first: what it calls a worksheet is checked as one, whatever
    # the member's name or first bytes.
    sheet_parts: set[str] = set()
    ordered = sorted(infos, key=lambda i: (not _is_index(i.filename), i.filename))
    for info in ordered:
        data_kind = _scan_member(archive, info, treat_as_sheet=info.filename in sheet_parts)
        if _is_index(info.filename) and data_kind is not None:
            sheet_parts |= _sheet_targets(info.filename, data_kind)
    fh.seek(0)


def _is_index(name: str) -> bool:
    return name == "[Content_Types].xml" or name.endswith(".rels")


def _check_directory(infos: list[zipfile.ZipInfo]) -> None:
    max_entries = limit("MAX_ZIP_ENTRIES")
    if len(infos) > max_entries:
        raise _refuse(
            f"XLSX 压缩包内含 {len(infos)} 个部件（上限 {max_entries} 个），异常过多，文件被拒收。", "zip_entries"
        )
    seen: set[str] = set()
    total = 0
    ratio_cap = limit("MAX_ZIP_RATIO")
    part_cap = limit("MAX_XLSX_PART")
    for info in infos:
        folded = info.filename.replace("\\", "/").lower()
        if folded in seen:
            raise _refuse(f"XLSX 压缩包内有重名部件 {info.filename}，结构异常，文件被拒收。", "zip_duplicate")
        seen.add(folded)
        if info.flag_bits & 0x1:
            raise _refuse("XLSX 文件已加密或设有密码，请取消保护后再导出。", "encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse("XLSX 使用了不支持的压缩方式，文件被拒收。", "zip_method")
        if info.file_size > part_cap:
            raise _refuse(
                f"XLSX 部件 {info.filename} 解压后 {info.file_size / 1048576:.0f} MB，超过单个部件上限 "
                f"{part_cap / 1048576:.0f} MB，疑似“压缩炸弹”，文件被拒收。",
                "zip_bomb",
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > ratio_cap:
            raise _refuse(
                f"XLSX 部件 {info.filename} 压缩比高达 {ratio:.0f}:1（上限 {ratio_cap}:1），疑似“压缩炸弹”，文件被拒收。",
                "zip_bomb",
            )
    cap = limit("MAX_XLSX_UNCOMPRESSED")
    if total > cap:
        raise _refuse(
            f"XLSX 解压后共 {total / 1048576:.0f} MB，超过上限 {cap / 1048576:.0f} MB，疑似“压缩炸弹”或文件过大，已拒收。",
            "zip_bomb",
        )


def _sheet_targets(index_name: str, data: bytes) -> set[str]:
    """Members that [Content_Types].xml or a .rels file calls a worksheet."""
    found: set[str] = set()
    if index_name == "[Content_Types].xml":
        for tag in _OVERRIDE.findall(data):
            kind = _CONTENT_TYPE.search(tag)
            name = _PART_NAME.search(tag)
            if kind and name and b"sheet" in kind.group(1).lower():
                found.add(name.group(1).decode("utf-8", "replace").lstrip("/"))
        return found
    # xl/_rels/workbook.xml.rels: targets are relative to xl/
    base = posixpath.dirname(posixpath.dirname(index_name))
    for tag in _RELATIONSHIP.findall(data):
        kind = _REL_TYPE.search(tag)
        target = _PART_NAME.search(tag)
        if kind and target and b"sheet" in kind.group(1).lower():
            raw = target.group(1).decode("utf-8", "replace")
            name = raw.lstrip("/") if raw.startswith("/") else posixpath.normpath(posixpath.join(base, raw))
            found.add(name)
    return found


# ---------------------------------------------------------------- one member


class _MemberScan:
    """The state of one member's streaming scan."""

    def __init__(self, name: str, *, treat_as_sheet: bool) -> None:
        self.name = name
        self.is_xml = False
        self.is_sheet = treat_as_sheet
        self.is_shared_strings = False
        self.max_cols = limit("MAX_COLUMNS")
        self.max_rows = limit("MAX_ROWS")
        self.max_shared = limit("MAX_SHARED_STRINGS")
        # A text run (bytes between two tags) longer than any cell could be, entities included.
        self.max_run = limit("MAX_CELL_CHARS") * 10 + 256
        self.run = 0
        self.rows_seen = 0
        self.max_row_seen = 0
        self.max_col_seen = 0
        self.max_cells = limit("MAX_XLSX_CELLS")
        self.cells_in_row = 0
        self.shared_items = 0

    def first_chunk(self, chunk: bytes) -> None:
        head = chunk[:512]
        if head.startswith(ARCHIVE_MAGIC):
            raise _refuse(f"XLSX 部件 {self.name} 是嵌套的压缩包，文件被拒收。", "nested_zip")
        if head.startswith(OLE_MAGIC):
            raise _refuse(
                f"XLSX 部件 {self.name} 是嵌入的 OLE 对象（宏或嵌入文件），文件被拒收。请另存为不含宏的 .xlsx。",
                "embedded",
            )
        if head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        ) or re.match(rb"\s*(<\x00|\x00<)", head):
            raise _refuse(f"XLSX 部件 {self.name} 不是 UTF-8 编码的 XML，文件被拒收。", "xml")
        stripped = head.removeprefix(codecs.BOM_UTF8).lstrip()
        if not stripped.startswith(b"<") and not self.is_sheet:
            return  # an image or other opaque data: still scanned for declarations below
        self.is_xml = True
        declared = _XML_DECL_ENCODING.match(stripped)
        if declared and declared.group(1).decode().lower() not in SAFE_ENCODINGS:
            raise _refuse(
                f"XLSX 部件 {self.name} 声明了不受支持的编码 {declared.group(1).decode()}，文件被拒收。", "xml"
            )
        root = self._root(stripped)
        if root in SHEET_ROOTS:
            self.is_sheet = True
        elif root == b"sst":
            self.is_shared_strings = True

    @staticmethod
    def _root(head: bytes) -> bytes | None:
        # Skip the declaration, comments and processing instructions to the first element.
        for match in _ROOT.finditer(head):
            if head[match.start() + 1 : match.start() + 2] in (b"?", b"!"):
                continue
            return match.group(2)
        return None

    def body(self, body: bytes) -> None:
        # Cheap byte searches first; the regular expressions run only where they could match.
        if b"<!" in body and _DANGEROUS_XML.search(body):
            raise _refuse(
                f"XLSX 部件 {self.name} 含有 DOCTYPE/ENTITY 声明（XML 实体攻击手法），文件被拒收。", "xml_entity"
            )
        if not self.is_xml:
            return
        formula = _search(body, _FORMULA_PLAIN, _FORMULA, b":f")
        if formula:
            refs = list(_CELL_REF.finditer(body, 0, formula.start()))
            where = (refs[-1].group(1) + refs[-1].group(2)).decode() if refs else "某"
            raise _refuse(f"单元格 {where} 含有公式。为防止公式注入，请将公式转换为数值后重新导出。", "formula")
        if self.is_sheet or self.is_shared_strings:
            self._text_runs(body)
        if self.is_sheet:
            self._sheet(body)
        elif self.is_shared_strings:
            self._shared(body)

    def _text_runs(self, body: bytes) -> None:
        """Refuse a run of bytes without a tag longer than max_run. Looking for a '<' in each
        window of max_run/2 bytes finds any such run inside the body (it covers a whole window);
        runs crossing bodies are added up from the ends."""
        first = body.find(b"<")
        if first == -1:
            self.run += len(body)
            longest = self.run
        else:
            longest = self.run + first
            self.run = len(body) - body.rfind(b"<") - 1
            window = self.max_run // 2
            for start in range(first, len(body) - window, window):
                if body.find(b"<", start, start + window) == -1:
                    longest = max(longest, window * 2)
                    break
        if longest > self.max_run:
            raise _refuse(
                f"XLSX 部件 {self.name} 中有一段文字超过 {self.max_run // 1000} 千字节，超过单元格上限 "
                f"{limit('MAX_CELL_CHARS')} 个字符，文件被拒收（异常超长单元格）。",
                "cell_too_long",
            )

    def _sheet(self, body: bytes) -> None:
        max_cols, max_rows = self.max_cols, self.max_rows
        m = _DIMENSION.search(body) if b"dimension" in body else None
        if m and m.group(3):
            span = m.group(0).split(b'"')[1].decode()
            if column_index(m.group(3)) > max_cols or int(m.group(4)) > max_rows:
                raise _refuse(
                    f"工作表声明的范围 {span} 过大（最多 {max_cols} 列、{max_rows} 行），文件被拒收。",
                    "too_many_columns",
                )
            self._check_area(int(m.group(4)), column_index(m.group(3)), f"声明的范围 {span}")
        prefixed = b":row" in body or b":c" in body
        # The widest column named: the distinct letters of the chunk, so legit files cost one
        # findall and a set, whatever their size.
        letters = set(_CELL_COLUMN.findall(body))
        if prefixed:
            letters |= {ref.group(1) for ref in _CELL_REF.finditer(body)}
        if letters:
            widest = max(map(column_index, letters))
            if widest > max_cols:
                ref = next(r for r in _CELL_REF.finditer(body) if column_index(r.group(1)) > max_cols)
                raise _refuse(
                    f"单元格 {(ref.group(1) + ref.group(2)).decode()} 超出允许的列数（最多 {max_cols} 列），文件被拒收。",
                    "too_many_columns",
                )
            self.max_col_seen = max(self.max_col_seen, widest)
        numbers = _ROW_TAG_PLAIN.findall(body) + (_ROW_TAG.findall(body) if b":row" in body else [])
        row_tags = body.count(b"<row")  # also <rowBreaks>: a few more rows counted is harmless
        if prefixed:
            row_tags = len(_ROW_SPLIT.findall(body))
        # A cell without an r attribute takes the next column: where a cell has none (or the
        # cheap count cannot tell), count cells per row (Excel always names its cells).
        named = body.count(b'<c r="')
        tags = body.count(b"<c")  # also <col>, <cfRule>: they only send a chunk down the exact path
        if prefixed or tags != named:
            rows = _ROW_SPLIT.split(body)
            if len(_CELL_TAG.findall(body)) > len(_CELL_REF.findall(body)):
                for number, piece in enumerate(rows):
                    if number:
                        self.cells_in_row = 0
                    self.cells_in_row += len(_CELL_TAG.findall(piece))
                    self.max_col_seen = max(self.max_col_seen, self.cells_in_row)
                    if self.cells_in_row > max_cols:
                        raise _refuse(
                            f"工作表第 {self.rows_seen + number} 行附近一行有 {self.cells_in_row} 个单元格，超过上限 "
                            f"{max_cols} 列，文件被拒收。",
                            "too_many_columns",
                        )
            elif row_tags:
                self.cells_in_row = 0
        elif row_tags:
            self.cells_in_row = 0
        if numbers:
            self.max_row_seen = max(self.max_row_seen, max(map(int, numbers)))
        self._check_area(max(self.max_row_seen, self.rows_seen + row_tags), self.max_col_seen, "")
        self.rows_seen += row_tags
        if self.rows_seen > max_rows:
            raise _refuse(f"工作表超过 {max_rows} 行，文件被拒收。请拆分后分批导入。", "too_many_rows")

    def _shared(self, body: bytes) -> None:
        declared = _SST_COUNT.search(body) if b"uniqueCount" in body else None
        if declared and int(declared.group(1)) > self.max_shared:
            raise _refuse(
                f"共享字符串表声明了 {int(declared.group(1))} 项，超过上限 {self.max_shared} 项，文件被拒收。",
                "shared_strings",
            )
        if b":si" in body:
            self.shared_items += len(_SHARED_ITEM.findall(body))
        else:
            self.shared_items += body.count(b"<si>") + body.count(b"<si ") + body.count(b"<si/")
        if self.shared_items > self.max_shared:
            raise _refuse(
                f"共享字符串表超过 {self.max_shared} 项，异常庞大，文件被拒收。请拆分后分批导入。", "shared_strings"
            )

    def _check_area(self, rows: int, columns: int, what: str) -> None:
        """The reader holds the sheet as a dense grid (first used cell to last, every cell a
        slot), so its memory follows rows × columns, not the cells present."""
        if rows * columns > self.max_cells:
            what = what or f"已达 {rows} 行 × {columns} 列"
            raise _refuse(
                f"工作表{what}，约 {rows * columns / 10000:.0f} 万个单元格，超过 XLSX 文件上限 "
                f"{self.max_cells / 10000:.0f} 万个。大批量数据请导出为 CSV 文件（CSV 没有此限制）。",
                "too_many_cells",
            )

    def finish(self) -> None:
        if self.is_sheet and (self.max_row_seen > self.max_rows or self.max_row_seen > self.rows_seen + 10_000):
            raise _refuse(
                f"工作表行号跳到第 {self.max_row_seen} 行而实际只有 {self.rows_seen} 行，结构异常，文件被拒收。",
                "sparse_sheet",
            )


def _search(body: bytes, plain: re.Pattern, prefixed: re.Pattern, marker: bytes) -> re.Match | None:
    return plain.search(body) or (prefixed.search(body) if marker in body else None)


def _scan_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, treat_as_sheet: bool) -> bytes | None:
    """Stream one member through the checks. Returns the member's bytes for the package index
    parts ([Content_Types].xml, .rels: small, capped), None otherwise."""
    scan = _MemberScan(info.filename, treat_as_sheet=treat_as_sheet)
    keep = _is_index(info.filename)
    kept: list[bytes] = []
    kept_size = 0
    carry = b""
    first = True
    produced = 0
    try:
        with archive.open(info) as fh:
            while chunk := fh.read(CHUNK):
                produced += len(chunk)
                # zipfile stops at the declared size and checks the CRC; count anyway, so a
                # lying directory can never make the scan read more than it checked above.
                if produced > info.file_size:
                    raise _refuse(f"XLSX 部件 {info.filename} 的实际大小与目录不符，文件被拒收。", "bad_zip")
                if keep:
                    kept_size += len(chunk)
                    if kept_size > 4 * 1024 * 1024:
                        raise _refuse(f"XLSX 索引部件 {info.filename} 异常庞大，文件被拒收。", "zip_entries")
                    kept.append(chunk)
                if first:
                    first = False
                    scan.first_chunk(chunk)
                data = carry + chunk
                # Keep the tail after the last tag start so a tag split across chunks is seen whole.
                cut = data.rfind(b"<")
                body, carry = (data[:cut], data[cut:]) if cut > 0 else (data, b"")
                if len(carry) > 4096:
                    body, carry = data, b""
                scan.body(body)
            if carry:
                scan.body(carry)
    except FileRefused:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError):
        raise _refuse(f"XLSX 部件 {info.filename} 已损坏（大小或校验不符），文件被拒收。", "bad_zip") from None
    scan.finish()
    return b"".join(kept) if keep else None


# ---------------------------------------------------------------- reading


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def read_xlsx(fh: BinaryIO) -> Table:
    """Parse the first sheet of a scanned workbook from the same open file."""
    from python_calamine import CalamineWorkbook

    fh.seek(0)
    try:
        workbook = CalamineWorkbook.from_filelike(fh)
        sheet = workbook.get_sheet_by_index(0)
    except Exception as exc:  # calamine raises its own error types for malformed parts
        raise FileRefused(f"无法读取 XLSX 工作表：{type(exc).__name__}。请用 Excel 另存后重试。", code="xlsx") from None
    max_cell = limit("MAX_CELL_CHARS")
    max_cols = limit("MAX_COLUMNS")
    if sheet.width > max_cols:
        raise FileRefused(f"工作表有 {sheet.width} 列，超过上限 {max_cols} 列，文件被拒收。", code="too_many_columns")
    iterator = iter(sheet.iter_rows())
    try:
        header_row = next(iterator)
    except StopIteration:
        raise FileRefused("工作表为空，没有表头行。", code="empty") from None
    # calamine starts at the first used row; report row numbers as Excel shows them.
    first_row = (sheet.start or (0, 0))[0] + 1
    header = [_cell_text(v).strip() for v in header_row]
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = first_row
        for values in iterator:
            number += 1
            cells = [_cell_text(v) for v in values]
            for cell in cells:
                if len(cell) > max_cell:
                    raise FileRefused(
                        f"第 {number} 行有单元格超过 {max_cell} 个字符，文件被拒收（异常超长行）。",
                        code="cell_too_long",
                    )
            yield number, cells

    notes = []
    if len(workbook.sheet_names) > 1:
        notes.append(f"工作簿有 {len(workbook.sheet_names)} 个工作表，只读取第一个“{workbook.sheet_names[0]}”。")
    return Table("xlsx", "", header, rows(), notes)
