"""Every kind of hostile workbook is refused by the scan with a Chinese message, nothing is
stored, and the same package without the attack is accepted (so each refusal is the attack's)."""

from __future__ import annotations

import os
import re
import zipfile

import pytest

from ejia.verification.files import FileRefused, open_table
from ejia.verification.models import DataSource, SourceRecord, SourceSnapshot
from ejia.verification.services import snapshot_import, snapshot_preview

from .hostile_xlsx import HEADER, KINDS, LEGIT, MAIN_NS, ROW, package, rows_xml, sheet_xml, write

CHINESE = re.compile(r"[\u4e00-\u9fff]{4}")


def test_there_are_at_least_twenty_kinds():
    assert len(KINDS) >= 20


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_hostile_workbook_is_refused_with_a_chinese_reason(sources, tmp_path, kind):
    build, code = KINDS[kind]
    path = build(tmp_path)
    with pytest.raises(FileRefused) as exc:
        snapshot_import(actor=None, source=DataSource.objects.get(code="mz_civil"), path=path)
    assert exc.value.code == code, exc.value.message
    assert CHINESE.search(exc.value.message), exc.value.message
    assert not SourceSnapshot.objects.exists()
    assert not SourceRecord.objects.exists()


@pytest.mark.parametrize("kind", sorted(LEGIT))
def test_the_same_package_without_the_attack_is_accepted(sources, tmp_path, kind):
    path = LEGIT[kind](tmp_path)
    snapshot = snapshot_import(actor=None, source=DataSource.objects.get(code="mz_civil"), path=path)
    assert (snapshot.rows_accepted, snapshot.rows_rejected) == (1, 0)


def test_a_dat_worksheet_with_a_doctype_is_refused_through_the_upload_path_too(sources, olga, tmp_path):
    build, _code = KINDS["dat_sheet_doctype"]
    with pytest.raises(FileRefused) as exc:
        snapshot_preview(
            actor=olga, source=DataSource.objects.get(code="mz_civil"), path=build(tmp_path), file_name="x"
        )
    assert "sheet1.dat" in exc.value.message
    assert not SourceSnapshot.objects.exists()


def test_the_parser_reads_the_file_that_was_scanned_not_a_later_one_under_the_same_name(sources, tmp_path, monkeypatch):
    """A file put in place of the scanned one (a new file renamed over it) between the scan and
    the parse is never parsed: the parser reads the open file the scan read."""
    from ejia.verification import xlsx

    path = write(tmp_path / "scanned.xlsx", package())
    other = write(tmp_path / "other.xlsx", package(sheet_xml(rows_xml([HEADER, [ROW[0], "李四", *ROW[2:]]]))))
    scan = xlsx.scan_xlsx

    def scan_then_swap(fh):
        scan(fh)
        os.replace(other, path)

    monkeypatch.setattr(xlsx, "scan_xlsx", scan_then_swap)
    table = open_table(path)
    assert [cells[1] for _n, cells in table.rows] == ["张三"]
    assert "李四".encode() in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")


def test_shared_strings_are_counted_whatever_the_header_declares(sources, tmp_path, settings):
    settings.EJIA_EXCHANGE_MAX_SHARED_STRINGS = 10
    items = "".join(f"<si><t>{i}</t></si>" for i in range(11))
    sst = f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}" count="1" uniqueCount="1">{items}</sst>'.encode()
    path = write(tmp_path / "sst.xlsx", package(extra={"xl/sharedStrings.xml": sst}))
    with pytest.raises(FileRefused) as exc:
        open_table(path)
    assert exc.value.code == "shared_strings" and "10 项" in exc.value.message
    settings.EJIA_EXCHANGE_MAX_SHARED_STRINGS = 11
    assert open_table(path).header[0] == HEADER[0]
