"""Opening department files safely: CSV (UTF-8 with or without BOM, GBK/GB18030) and XLSX.

Everything that could make parsing expensive is checked on the raw bytes first, in bounded
chunks: the file size; for XLSX the zip directory (entry count, declared uncompressed sizes,
compression ratio, encryption), DOCTYPE/ENTITY declarations in any XML part, formula cells,
the sheet's dimension and cell references (a cell at XFD1048576 would make the reader build
a 17-billion-cell grid) — see `xlsx.py`, which scans every zip member whatever its name. Refusals raise `FileRefused` with a Chinese message for the operator.
Readers yield rows of strings, so validation is the same for both formats.
"""

from __future__ import annotations

import codecs
import csv
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

CHUNK = 64 * 1024


class FileRefused(Exception):
    """The whole file is refused; `message` is Chinese and shown to the operator."""

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def limit(name: str) -> int:
    defaults = {
        "MAX_FILE_BYTES": 256 * 1024 * 1024,
        "MAX_XLSX_UNCOMPRESSED": 256 * 1024 * 1024,
        "MAX_ZIP_RATIO": 100,
        "MAX_ZIP_ENTRIES": 500,
        "MAX_XLSX_PART": 192 * 1024 * 1024,
        "MAX_SHARED_STRINGS": 3_000_000,  # no more than cells can refer to (MAX_XLSX_CELLS)
        "MAX_XLSX_CELLS": 3_000_000,
        "MAX_COLUMNS": 64,
        "MAX_CELL_CHARS": 2000,
        "MAX_ROWS": 5_000_000,
    }
    return int(getattr(settings, f"EJIA_EXCHANGE_{name}", defaults[name]))


def staging_dir() -> Path:
    """Where uploaded department files wait (sealed) and are read (see services.staged_plaintext)."""
    path = Path(settings.VAR_DIR) / "exchange" / "staging"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def scratch_file(directory: Path) -> tuple[int, str, bool]:
    """A private file to hold plaintext while it is read: on Linux an O_TMPFILE file, which has
    no name (readers open it through /proc/self/fd) and vanishes with its descriptor, even if
    the worker is killed; elsewhere a named 0600 file that the caller deletes (and the staging
    sweep deletes if the process died first). Returns (fd, path to open it by, named)."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError:
            pass  # a filesystem without O_TMPFILE support
        else:
            return fd, f"/proc/self/fd/{fd}", False
    fd, name = tempfile.mkstemp(dir=directory, suffix=".plain")
    return fd, name, True


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class Table:
    file_format: str  # "csv" | "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "gb18030", or "" for XLSX
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (row number as the operator sees it, header = 1; cells)
    notes: list[str] = field(default_factory=list)


def sniff_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再上传。", code="xls")
    if head.startswith(b"%PDF"):
        raise FileRefused("这是 PDF 文件，请上传部门导出的 CSV 或 XLSX 数据文件。", code="format")
    return "csv"


def check_size(path: Path, *, max_bytes: int | None = None) -> int:
    size = path.stat().st_size
    cap = max_bytes or limit("MAX_FILE_BYTES")
    if size > cap:
        raise FileRefused(
            f"文件过大：{size / 1048576:.1f} MB，超过上限 {cap / 1048576:.0f} MB。请按区县或月份拆分后分批导入。",
            code="too_large",
        )
    if size == 0:
        raise FileRefused("文件为空。", code="empty")
    return size


def open_table(path: Path, *, max_bytes: int | None = None) -> Table:
    path = Path(path)
    check_size(path, max_bytes=max_bytes)
    if sniff_format(path) == "xlsx":
        from ejia.verification.xlsx import read_xlsx, scan_xlsx

        # One open file for the scan and the parser: what is parsed is what was scanned,
        # even if the name is replaced meanwhile.
        with open(path, "rb") as fh:
            scan_xlsx(fh)
            return read_xlsx(fh)
    return _read_csv(path)


# ---------------------------------------------------------------- CSV

ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8（带BOM）", "gb18030": "GBK/GB18030"}


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused("文件是 UTF-16 编码，不受支持。请在导出时选择 UTF-8 或 GBK 编码的 CSV。", code="encoding")
    if b"\x00" in sample:
        raise FileRefused("文件含有空字节，不是文本格式的 CSV（可能是二进制文件或 UTF-16 编码）。", code="binary")
    for encoding in ("utf-8", "gb18030"):
        try:
            # final=False: the sample may end inside a multi-byte character.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and _is_utf8_chinese(sample.split(b"\n", 1)[0]):
            # UTF-8 bytes also decode as GB18030 (to nonsense): a UTF-8 header above rows
            # that are not UTF-8 means the file mixes encodings.
            raise FileRefused(
                "文件编码不一致：表头是 UTF-8 编码，数据行却不是（可能混用了 UTF-8 与 GBK）。请以统一编码重新导出。",
                code="encoding",
            )
        return encoding
    raise FileRefused("无法识别文件编码：既不是 UTF-8 也不是 GBK。请在导出时选择 UTF-8 或 GBK 编码。", code="encoding")


def _is_utf8_chinese(line: bytes) -> bool:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(ord(ch) > 0x2E80 for ch in text)


def _check_line_lengths(path: Path, max_line: int) -> None:
    """One cheap pass over the bytes: a line longer than all its cells could be is refused
    before the CSV reader would hold it in memory."""
    # Lines inside one chunk are shorter than a chunk, so only lines crossing chunks need counting.
    max_line = max(max_line, CHUNK)
    since_newline = 0
    number = 1
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            newlines = chunk.count(b"\n")
            if newlines:
                since_newline += chunk.find(b"\n")
                if since_newline > max_line:
                    break
                number += newlines
                since_newline = len(chunk) - chunk.rfind(b"\n") - 1
            else:
                since_newline += len(chunk)
            if since_newline > max_line:
                break
        else:
            return
    raise FileRefused(
        f"第 {number} 行附近有一行超过 {max_line // 1000} 千字节，异常超长，文件被拒收。", code="line_too_long"
    )


def _decode_message(encoding: str, number: int) -> str:
    label = ENCODING_LABELS.get(encoding, encoding)
    return (
        f"第 {number} 行附近含有无法按 {label} 解码的内容：文件编码不一致（可能混用了 UTF-8 与 GBK）"
        "或不是文本文件。请以 UTF-8 或 GBK 编码重新导出。"
    )


def _read_csv(path: Path) -> Table:
    with open(path, "rb") as fh:
        sample = fh.read(1024 * 1024)
    encoding = detect_encoding(sample)
    # Closed by the row generator (or below on refusal); decoding is strict and chunked.
    raw = open(path, encoding=encoding, errors="strict", newline="")  # noqa: SIM115
    text = raw
    max_cell = limit("MAX_CELL_CHARS")
    max_cols = limit("MAX_COLUMNS")
    _check_line_lengths(path, max_cell * max_cols)
    reader = csv.reader(text)
    try:
        header = next(reader)
    except UnicodeDecodeError:
        raw.close()
        raise FileRefused(_decode_message(encoding, 1), code="encoding") from None
    except StopIteration:
        raw.close()
        raise FileRefused("文件没有表头行。", code="empty") from None
    except csv.Error:
        raw.close()
        raise FileRefused(
            f"表头行有单元格超过 {max_cell} 个字符，或文件不是 CSV 格式。", code="cell_too_long"
        ) from None
    if len(header) > max_cols:
        raw.close()
        raise FileRefused(f"列数过多：表头有 {len(header)} 列，最多允许 {max_cols} 列。", code="too_many_columns")

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            while True:
                number += 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError:
                    raise FileRefused(_decode_message(encoding, number), code="encoding") from None
                except csv.Error as exc:
                    if "field larger" in str(exc):
                        raise FileRefused(
                            f"第 {number} 行有单元格超过 {max_cell} 个字符，文件被拒收（异常超长行）。",
                            code="cell_too_long",
                        ) from None
                    raise FileRefused(f"第 {number} 行不是合法的 CSV 格式：{exc}", code="csv") from None
                if len(cells) > max_cols:
                    raise FileRefused(
                        f"第 {number} 行有 {len(cells)} 列，超过上限 {max_cols} 列，文件被拒收。",
                        code="too_many_columns",
                    )
                for cell in cells:
                    if len(cell) > max_cell:
                        raise FileRefused(
                            f"第 {number} 行有单元格超过 {max_cell} 个字符，文件被拒收（异常超长行）。",
                            code="cell_too_long",
                        )
                yield number, cells
        finally:
            raw.close()

    return Table("csv", encoding, [h.strip() for h in header], rows())
