"""Hostile and broken files are refused, with a Chinese message, before parsing costs memory."""

from __future__ import annotations

import zipfile

import pytest

from ejia.verification.files import FileRefused, open_table
from ejia.verification.models import DataSource, SourceSnapshot
from ejia.verification.services import snapshot_import

from .conftest import VALID_IDS, write_csv, write_xlsx

HEADER = ["证件号码", "姓名", "事件类型", "事件日期", "登记机关"]
ROW = [VALID_IDS[0], "张三", "死亡", "2025-01-01", "滨城区"]


def refused(path, code: str, expect: str, **settings_kwargs) -> str:
    with pytest.raises(FileRefused) as exc:
        snapshot_import(actor=None, source=DataSource.objects.get(code="mz_civil"), path=path)
    assert exc.value.code == code, exc.value.message
    assert expect in exc.value.message
    assert not SourceSnapshot.objects.exists()
    return exc.value.message


def xlsx_with(tmp_path, name: str, sheet_xml: bytes, extra: dict | None = None, method=zipfile.ZIP_DEFLATED):
    """A minimal workbook whose first sheet is `sheet_xml`."""
    good = write_xlsx(tmp_path / "good.xlsx", HEADER, [ROW])
    out = tmp_path / name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w", method) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml
            dst.writestr(info.filename, data)
        for n, data in (extra or {}).items():
            dst.writestr(n, data)
    return out


SHEET_HEAD = b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'


def test_a_file_over_the_size_limit_is_refused(sources, tmp_path, settings):
    settings.EJIA_EXCHANGE_MAX_FILE_BYTES = 1000
    path = write_csv(tmp_path / "big.csv", HEADER, [ROW] * 50)
    refused(path, "too_large", "文件过大")


def test_a_zip_bomb_is_refused_from_its_declared_sizes(sources, tmp_path):
    bomb = SHEET_HEAD + b'<row r="1"></row>' + b" " * (30 * 1024 * 1024) + b"</sheetData></worksheet>"
    path = xlsx_with(tmp_path, "bomb.xlsx", bomb)
    assert path.stat().st_size < 200_000
    refused(path, "zip_bomb", "压缩炸弹")


def test_an_xlsx_too_large_once_unpacked_is_refused(sources, tmp_path, settings):
    settings.EJIA_EXCHANGE_MAX_XLSX_UNCOMPRESSED = 2000
    path = write_xlsx(tmp_path / "x.xlsx", HEADER, [ROW] * 50)
    refused(path, "zip_bomb", "解压后")


def test_xml_entity_declarations_are_refused(sources, tmp_path):
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        + SHEET_HEAD[38:]
        + b'<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>'
    )
    message = refused(xlsx_with(tmp_path, "xxe.xlsx", evil), "xml_entity", "DOCTYPE/ENTITY")
    assert "sheet1.xml" in message


def test_an_entity_in_shared_strings_is_refused_too(sources, tmp_path):
    good = write_xlsx(tmp_path / "g.xlsx", HEADER, [ROW])
    out = tmp_path / "s.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("xl/sharedStrings.xml", b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><sst/>')
    refused(out, "xml_entity", "DOCTYPE")


def test_formulas_in_cells_are_refused_naming_the_cell(sources, tmp_path):
    sheet = (
        SHEET_HEAD
        + b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
        + b'<row r="2"><c r="C2"><f>HYPERLINK("http://evil","x")</f><v>1</v></c></row></sheetData></worksheet>'
    )
    message = refused(xlsx_with(tmp_path, "f.xlsx", sheet), "formula", "含有公式")
    assert "C2" in message


def test_a_cell_far_to_the_right_is_refused_before_reading(sources, tmp_path):
    sheet = SHEET_HEAD + b'<row r="1"><c r="XFD1"><v>1</v></c></row></sheetData></worksheet>'
    refused(xlsx_with(tmp_path, "wide.xlsx", sheet), "too_many_columns", "XFD1")


def test_a_sheet_jumping_to_row_a_million_is_refused(sources, tmp_path):
    sheet = SHEET_HEAD + b'<row r="1"><c r="A1"><v>1</v></c></row><row r="1000000"><c r="A1000000"><v>1</v></c></row></sheetData></worksheet>'  # fmt: skip
    refused(xlsx_with(tmp_path, "sparse.xlsx", sheet), "sparse_sheet", "1000000")


def test_too_many_columns_in_a_csv_is_refused(sources, tmp_path):
    path = write_csv(tmp_path / "wide.csv", HEADER + [f"列{i}" for i in range(100)], [ROW])
    refused(path, "too_many_columns", "列数过多")


def test_a_huge_cell_is_refused(sources, tmp_path):
    path = write_csv(tmp_path / "long.csv", HEADER, [ROW, [*ROW[:4], "长" * 5000]])
    refused(path, "cell_too_long", "第 3 行")


def test_a_huge_line_is_refused_before_it_is_read(sources, tmp_path):
    path = tmp_path / "line.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n" + b"x" * 300_000 + b"\n")
    refused(path, "line_too_long", "异常超长")


def test_wrong_encodings_are_refused_clearly(sources, tmp_path):
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes(",".join(HEADER).encode("utf-16"))
    refused(utf16, "encoding", "UTF-16")
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(",".join(HEADER).encode("utf-8") + b"\n" + ",".join(ROW).encode("gbk") + b"\n")
    refused(mixed, "encoding", "编码不一致")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    refused(binary, "binary", "不是文本格式")


def test_old_excel_files_and_broken_zips_are_refused(sources, tmp_path):
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    refused(xls, "xls", ".xls")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    refused(broken, "bad_zip", "XLSX")


def test_a_gbk_file_decodes_with_gb18030_and_reads_its_header(sources, tmp_path):
    path = write_csv(tmp_path / "g.csv", HEADER, [ROW], "gbk")
    table = open_table(path)
    assert table.encoding == "gb18030"
    assert table.header == HEADER
