"""Offline exchange: every source round-trips in CSV (UTF-8, UTF-8 with BOM, GBK) and XLSX;
refused rows keep their reasons; nothing is silently dropped; no plaintext ID is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ejia.core import crypto
from ejia.core.audit import audit_record  # noqa: F401  (the import path the services use)
from ejia.core.models import AuditEvent
from ejia.verification import export
from ejia.verification.files import FileRefused
from ejia.verification.models import (
    PERSON_INDEX_PURPOSE,
    SOURCE_ID_PURPOSE,
    DataSource,
    RejectedRow,
    SourceRecord,
    SourceSnapshot,
)
from ejia.verification.services import snapshot_commit, snapshot_import, snapshot_preview
from ejia.verification.sources import SOURCE_SPECS, sources_seed

from .conftest import VALID_IDS, write_csv, write_xlsx

CODES = [spec[0] for spec in SOURCE_SPECS]


def sample_value(column: dict, i: int) -> str:
    kind = column["type"]
    if kind == "id_number":
        return VALID_IDS[i]
    if kind == "date":
        return ["2024-03-01", "2024/03/02", "20240303"][i % 3]
    if kind == "money_yuan":
        return f"{1000 + i}.5"
    if kind == "decimal":
        return "88.25"
    if kind == "int":
        return str(i)
    if kind == "code":
        codes = column["codes"]
        return list(codes)[i % len(codes)]
    if column.get("mask"):
        return f"62220000{i:010d}"
    return f"文本{i}"


def sample_file(code: str, rows: int = 5) -> tuple[list[str], list[list[str]]]:
    columns = DataSource.objects.get(code=code).columns
    header = [c["header"] for c in columns]
    return header, [[sample_value(c, i) for c in columns] for i in range(rows)]


def with_bad_row(code: str):
    header, rows = sample_file(code)
    bad = list(rows[0])
    key = next(i for i, c in enumerate(DataSource.objects.get(code=code).columns) if c.get("key"))
    bad[key] = VALID_IDS[5][:-1] + ("0" if VALID_IDS[5][-1] != "0" else "1")  # wrong check character
    return header, [*rows, bad]


def test_there_are_twelve_sources_and_seeding_twice_changes_nothing(sources):
    assert DataSource.objects.count() >= 12
    assert sources_seed() == (0, 0)
    assert all(sum(1 for c in s.columns if c.get("key")) == 1 for s in DataSource.objects.all())


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "xlsx"])
def test_each_source_round_trips_in_each_format(sources, tmp_path, code, encoding):
    header, rows = with_bad_row(code)
    if encoding == "xlsx":
        path = write_xlsx(tmp_path / "f.xlsx", header, rows)
    else:
        path = write_csv(tmp_path / "f.csv", header, rows, encoding)
    source = DataSource.objects.get(code=code)

    snapshot = snapshot_import(actor=None, source=source, path=path)

    assert (snapshot.rows_total, snapshot.rows_accepted, snapshot.rows_rejected) == (6, 5, 1)
    assert snapshot.status == SourceSnapshot.Status.COMMITTED
    record = SourceRecord.objects.filter(snapshot=snapshot).order_by("row_number").first()
    assert record.row_number == 2
    assert record.person_index == crypto.blind_index(VALID_IDS[0], purpose=PERSON_INDEX_PURPOSE)
    assert crypto.decrypt(record.id_ciphertext, purpose=SOURCE_ID_PURPOSE) == VALID_IDS[0]
    typed = {c["field"]: c["type"] for c in source.columns if not c.get("key")}
    for field, kind in typed.items():
        value = record.data[field]
        if kind == "money_yuan":
            assert value == 100050
        elif kind == "date":
            assert value == "2024-03-01"
    rejected = RejectedRow.objects.get(snapshot=snapshot)
    assert rejected.row_number == 7
    assert any("校验位不正确" in r for r in rejected.reasons)


def test_a_second_import_supersedes_the_first(sources, tmp_path):
    header, rows = sample_file("gongan_population")
    path = write_csv(tmp_path / "p.csv", header, rows)
    source = DataSource.objects.get(code="gongan_population")
    first = snapshot_import(actor=None, source=source, path=path)
    second = snapshot_import(actor=None, source=source, path=path)
    first.refresh_from_db()
    assert first.status == SourceSnapshot.Status.SUPERSEDED
    assert second.status == SourceSnapshot.Status.COMMITTED


def test_preview_stores_no_records_and_commit_is_idempotent(
    sources, tmp_path, olga, django_capture_on_commit_callbacks
):
    header, rows = with_bad_row("bank_deposit")
    path = write_csv(tmp_path / "b.csv", header, rows, "gbk")
    source = DataSource.objects.get(code="bank_deposit")
    preview = snapshot_preview(actor=olga, source=source, path=path, file_name="银行.csv")
    assert preview.status == SourceSnapshot.Status.PREVIEW
    staged = preview.staged_path
    assert staged != str(path) and Path(staged).exists()
    assert (preview.rows_accepted, preview.rows_rejected) == (5, 1)
    assert not SourceRecord.objects.exists()
    assert RejectedRow.objects.filter(snapshot=preview).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        snapshot_commit(actor=olga, snapshot_id=preview.pk)
    snapshot_commit(actor=olga, snapshot_id=preview.pk)  # a double click

    preview.refresh_from_db()
    assert preview.status == SourceSnapshot.Status.COMMITTED
    assert SourceRecord.objects.filter(snapshot=preview).count() == 5
    assert AuditEvent.objects.filter(action="exchange.commit").count() == 1
    assert not Path(staged).exists()  # the staged (sealed) copy is removed once committed
    assert path.exists()  # the caller's own file is left alone


def test_rows_are_refused_with_chinese_reasons_for_each_kind_of_problem(sources, tmp_path):
    header = ["证件号码", "姓名", "失业登记日期", "登记状态", "失业保险金(元/月)", "就业困难人员"]
    rows = [
        [VALID_IDS[0], "甲", "2025-02-30", "有效", "1200", "否"],
        ["12345", "乙", "2025-01-01", "有效", "1200", "否"],
        [VALID_IDS[2], "丙", "2025-01-01", "暂停", "1200", "否"],
        [VALID_IDS[3], "丁", "", "有效", "12.345", "否"],
        [VALID_IDS[4], "戊", "2025-01-01", "有效", "1200", "否"],
    ]
    path = write_csv(tmp_path / "u.csv", header, rows)
    snapshot = snapshot_import(actor=None, source=DataSource.objects.get(code="rs_unemployment"), path=path)
    reasons = {r.row_number: r.reasons for r in snapshot.rejected_rows.all()}
    assert snapshot.rows_accepted == 1 and snapshot.rows_rejected == 4
    assert "不是有效日期" in reasons[2][0]
    assert "身份证号码应为18位" in reasons[3][0]
    assert "不在允许的代码中" in reasons[4][0]
    assert any("缺少必填项「失业登记日期」" in r for r in reasons[5])
    assert any("两位小数" in r for r in reasons[5])


def test_a_missing_column_refuses_the_whole_file_naming_it(sources, tmp_path):
    header, rows = sample_file("cl_disability")
    drop = header.index("残疾等级")
    path = write_csv(tmp_path / "d.csv", [h for i, h in enumerate(header) if i != drop], [[c for i, c in enumerate(r) if i != drop] for r in rows], "gbk")  # fmt: skip
    with pytest.raises(FileRefused) as exc:
        snapshot_import(actor=None, source=DataSource.objects.get(code="cl_disability"), path=path)
    assert "缺少必需的列：残疾等级" in exc.value.message
    assert not SourceSnapshot.objects.exists()
    assert AuditEvent.objects.filter(action="exchange.file_refused").exists()


def test_the_refused_rows_report_escapes_formulas_and_masks_id_numbers(sources, tmp_path):
    header = ["证件号码", "姓名", "银行名称", "账号", "账户类型", "余额(元)", "余额日期"]
    rows = [
        ['=HYPERLINK("http://x")', "@SUM(A1)", "+银行", "-1", "活期储蓄", "100", "2025-12-31"],
        [VALID_IDS[1], "张三", "银行", "6222000011112222", "不存在", "100", "2025-12-31"],
    ]
    path = write_csv(tmp_path / "b.csv", header, rows)
    # Every row refused: such a file is never committed, but its preview keeps the refused rows.
    source = DataSource.objects.get(code="bank_deposit")
    snapshot = snapshot_preview(actor=None, source=source, path=path, file_name="b.csv")
    assert snapshot.rows_rejected == 2

    text = export.rejected_csv(snapshot).decode("utf-8-sig")
    assert "'@SUM(A1)" in text and "'+银行" in text
    assert VALID_IDS[1] not in text and "6222000011112222" not in text
    assert "拒收原因" in text and "不在允许的代码中" in text
    for line in text.splitlines():
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "-", "@"))

    from openpyxl import load_workbook

    (tmp_path / "r.xlsx").write_bytes(export.rejected_xlsx(snapshot))
    ws = load_workbook(tmp_path / "r.xlsx").active
    values = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert all(not v.startswith(("=", "+", "-", "@")) for v in values)
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_no_plaintext_id_number_is_stored_anywhere(sources, tmp_path):
    header, rows = with_bad_row("mz_civil")
    path = write_csv(tmp_path / "m.csv", header, rows)
    snapshot_import(actor=None, source=DataSource.objects.get(code="mz_civil"), path=path)
    stored = json.dumps(
        [
            list(SourceRecord.objects.values_list("person_index", "id_ciphertext", "data")),
            list(RejectedRow.objects.values_list("cells", "reasons")),
            list(AuditEvent.objects.values_list("reason", "data")),
        ],
        ensure_ascii=False,
    )
    for number in VALID_IDS[:6]:
        assert number not in stored
        assert number[:17] not in stored


def test_the_fast_path_and_the_row_by_row_path_agree(sources, tmp_path):
    """A ragged row sends the whole file through the per-row reader; the results must match."""
    header, rows = with_bad_row("gjj_fund")
    source = DataSource.objects.get(code="gjj_fund")
    fast = snapshot_import(actor=None, source=source, path=write_csv(tmp_path / "a.csv", header, rows))
    ragged = [*rows, [*rows[0], "多余"]]
    slow = snapshot_import(actor=None, source=source, path=write_csv(tmp_path / "b.csv", header, ragged))
    assert (slow.rows_accepted, slow.rows_rejected) == (fast.rows_accepted, fast.rows_rejected + 1)
    data_fast = list(fast.records.order_by("row_number").values_list("row_number", "person_index", "data"))
    data_slow = list(slow.records.order_by("row_number").values_list("row_number", "person_index", "data"))
    assert data_fast == data_slow
    assert "多于表头" in slow.rejected_rows.order_by("-row_number").first().reasons[0]


def test_blank_rows_are_counted_apart_and_numbers_follow_the_file(sources, tmp_path):
    header, rows = sample_file("sw_tax", 2)
    path = write_csv(tmp_path / "t.csv", header, [rows[0], [""] * len(header), rows[1]])
    snapshot = snapshot_import(actor=None, source=DataSource.objects.get(code="sw_tax"), path=path)
    assert (snapshot.rows_total, snapshot.rows_blank) == (2, 1)
    assert list(snapshot.records.order_by("row_number").values_list("row_number", flat=True)) == [2, 4]


def test_the_cli_prints_counts_and_fails_with_the_chinese_reason(sources, tmp_path, capsys):
    header, rows = with_bad_row("yb_medical")
    path = write_csv(tmp_path / "y.csv", header, rows, "utf-8-sig")
    call_command("ejia_import", "yb_medical", str(path))
    assert "accepted 5, rejected 1" in capsys.readouterr().out

    (tmp_path / "x.csv").write_bytes("无关,表头\n1,2\n".encode())
    with pytest.raises(CommandError, match="缺少必需的列"):
        call_command("ejia_import", "yb_medical", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="未知的数据源"):
        call_command("ejia_import", "nope", str(path))


def test_the_cli_exit_code_is_non_zero_on_refusal(sources, tmp_path):
    import subprocess
    import sys

    from django.conf import settings

    (tmp_path / "x.csv").write_bytes(b"\xff\xfe\x00a")
    result = subprocess.run(
        [sys.executable, "manage.py", "ejia_import", "yb_medical", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        env={**__import__("os").environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"},
    )
    assert result.returncode != 0


@pytest.mark.parametrize("fmt", ["csv-gbk", "xlsx"])
def test_without_o_tmpfile_the_plaintext_scratch_copy_is_deleted_after_reading(
    sources, tmp_path, olga, monkeypatch, django_capture_on_commit_callbacks, fmt
):
    """Where the filesystem cannot make nameless files, reading uses a named 0600 scratch file,
    which is gone once the preview and the commit are done."""
    import os

    from ejia.verification.files import staging_dir

    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    header, rows = with_bad_row("bank_deposit")
    if fmt == "xlsx":
        path = write_xlsx(tmp_path / "b.xlsx", header, rows)
    else:
        path = write_csv(tmp_path / "b.csv", header, rows, "gbk")
    source = DataSource.objects.get(code="bank_deposit")
    preview = snapshot_preview(actor=olga, source=source, path=path, file_name="银行")
    assert (preview.rows_accepted, preview.rows_rejected) == (5, 1)
    assert [p.suffix for p in staging_dir().iterdir()] == [".upload"]
    with django_capture_on_commit_callbacks(execute=True):
        snapshot_commit(actor=olga, snapshot_id=preview.pk)
    assert list(staging_dir().iterdir()) == []
    assert SourceRecord.objects.filter(snapshot=preview).count() == 5
