"""The 公安人口库 snapshot: bulk import from the department's CSV and lookups for intake.

The file arrives as UTF-8 (with or without BOM) or GBK, with Chinese or English headers.
Rows are read in batches and written with one upsert per batch keyed by the blind index;
the plaintext number lives only in memory while a batch is encrypted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from ejia.core import crypto, idnumber
from ejia.registry.models import ID_PURPOSE, PopulationRecord, Relation
from ejia.registry.services import id_index

logger = logging.getLogger(__name__)

# Header aliases → our field names. Whatever the export calls a column, it lands here.
HEADERS = {
    "id_number": ("id_number", "公民身份号码", "身份证号码", "身份证号", "sfzh"),
    "name": ("name", "姓名", "xm"),
    "sex": ("sex", "性别", "xb"),
    "birth_date": ("birth_date", "出生日期", "csrq"),
    "address": ("address", "住址", "户籍地址", "zz"),
    "hukou_number": ("hukou_number", "household_number", "户号", "hh"),
    "relation": ("relation", "与户主关系", "yhzgx", "relation_code"),
    "division_code": ("division_code", "village_code", "行政区划代码", "村（社区）代码"),
}
SEX_WORDS = {"男": "M", "女": "F", "1": "M", "2": "F", "m": "M", "f": "F", "M": "M", "F": "F"}


@dataclass
class ImportResult:
    read: int = 0
    written: int = 0
    rejected: int = 0

    def __str__(self) -> str:
        return f"读取 {self.read} 行，写入 {self.written} 行，无效 {self.rejected} 行"


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()[:65536]
    # Cut the 64 KB sample at its last line break so it never ends inside a multi-byte
    # character (a newline byte is never part of one in UTF-8 or GBK).
    if b"\n" in raw:
        raw = raw[: raw.rfind(b"\n")]
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return open(path, encoding=encoding, newline="")
    raise ValueError("文件编码无法识别（应为 UTF-8 或 GBK）。")


def _column_map(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    cleaned = [h.strip().lower() for h in header]
    for field, aliases in HEADERS.items():
        for alias in aliases:
            if alias.lower() in cleaned:
                found[field] = cleaned.index(alias.lower())
                break
    missing = {"id_number", "name"} - found.keys()
    if missing:
        raise ValueError(f"缺少必需的列：{'、'.join(sorted(missing))}")
    return found


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        columns = _column_map(next(reader))
        for values in reader:
            yield {field: (values[i].strip() if i < len(values) else "") for field, i in columns.items()}


def _record(row: dict[str, str], now: dt.datetime) -> PopulationRecord | None:
    try:
        parsed = idnumber.parse(row.get("id_number", ""))
    except idnumber.InvalidIdNumber:
        return None
    relation = row.get("relation", "")
    return PopulationRecord(
        id_number_index=id_index(parsed.number),
        id_number_ciphertext=crypto.encrypt(parsed.number, purpose=ID_PURPOSE),
        name=row.get("name", "")[:40],
        sex=SEX_WORDS.get(row.get("sex", ""), parsed.sex),
        birth_date=parsed.birth_date,
        address=row.get("address", "")[:200],
        hukou_number=row.get("hukou_number", "")[:20],
        relation=Relation.normalise(relation) if relation else "",
        division_code=row.get("division_code", "")[:12],
        imported_at=now,
    )


def population_import_rows(rows: Iterable[dict[str, str]], *, batch_size: int = 2000) -> ImportResult:
    result = ImportResult()
    now = timezone.now()
    batch: list[PopulationRecord] = []

    def flush() -> None:
        if not batch:
            return
        # The last row wins when a number repeats inside one batch (upsert needs unique keys).
        unique = list({rec.id_number_index: rec for rec in batch}.values())
        with transaction.atomic():
            PopulationRecord.objects.bulk_create(
                unique,
                update_conflicts=True,
                unique_fields=["id_number_index"],
                update_fields=[
                    "id_number_ciphertext",
                    "name",
                    "sex",
                    "birth_date",
                    "address",
                    "hukou_number",
                    "relation",
                    "division_code",
                    "imported_at",
                ],
            )
        result.written += len(unique)
        batch.clear()

    for row in rows:
        result.read += 1
        record = _record(row, now)
        if record is None:
            result.rejected += 1
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    flush()
    logger.info("population import: %s", result)
    return result


def population_import(*, path: Path | str, batch_size: int = 2000) -> ImportResult:
    return population_import_rows(_rows(Path(path)), batch_size=batch_size)


@dataclass(frozen=True)
class PopulationPerson:
    """A population-base row decrypted for pre-filling a form (never stored as such)."""

    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    address: str
    hukou_number: str
    relation: str
    division_code: str


def _decrypted(record: PopulationRecord) -> PopulationPerson:
    return PopulationPerson(
        id_number=crypto.decrypt(record.id_number_ciphertext, purpose=ID_PURPOSE),
        name=record.name,
        sex=record.sex,
        birth_date=record.birth_date,
        address=record.address,
        hukou_number=record.hukou_number,
        relation=record.relation,
        division_code=record.division_code,
    )


def population_lookup(id_number: str) -> tuple[PopulationPerson | None, list[PopulationPerson]]:
    """The person with this number and the others registered under the same 户号."""
    record = PopulationRecord.objects.filter(id_number_index=id_index(id_number)).first()
    if record is None:
        return None, []
    others: list[PopulationPerson] = []
    if record.hukou_number:
        for other in PopulationRecord.objects.filter(hukou_number=record.hukou_number).exclude(pk=record.pk)[:20]:
            others.append(_decrypted(other))
    return _decrypted(record), others
