from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ejia.accounts.models import User
from ejia.verification.files import FileRefused
from ejia.verification.models import DataSource
from ejia.verification.services import CommitRefused, snapshot_import


class Command(BaseCommand):
    help = "Import a department CSV/XLSX export as the source's new snapshot and print accepted/rejected counts."

    def add_arguments(self, parser):
        parser.add_argument("source", help="source code, e.g. gongan_population")
        parser.add_argument("file", type=Path)
        parser.add_argument("--actor", help="username recorded in the audit log (default: system)")
        parser.add_argument("--max-mb", type=int, help="raise the file size cap for this import")
        parser.add_argument(
            "--reason",
            default="",
            help="why a file with far fewer accepted rows than the current snapshot must replace it "
            "(EJIA_EXCHANGE_MIN_SHARE_PERCENT); recorded in the audit log",
        )

    def handle(self, *args, source, file, actor=None, max_mb=None, reason="", **options):
        data_source = DataSource.objects.filter(code=source).first()
        if data_source is None:
            codes = (
                ", ".join(DataSource.objects.values_list("code", flat=True))
                or "（尚未初始化，请先运行 ejia_sources_seed）"
            )
            raise CommandError(f"未知的数据源“{source}”。可用：{codes}")
        if not file.is_file():
            raise CommandError(f"找不到文件：{file}")
        user = User.objects.filter(username=actor).first() if actor else None
        if actor and user is None:
            raise CommandError(f"找不到用户“{actor}”")
        try:
            snapshot = snapshot_import(
                actor=user,
                source=data_source,
                path=file,
                max_bytes=max_mb * 1024 * 1024 if max_mb else None,
                override_reason=reason,
            )
        except FileRefused as exc:
            raise CommandError(f"文件被拒收：{exc.message}") from None
        except CommitRefused as exc:
            hint = "（如确需入库，请用 --reason 说明原因）" if exc.verdict.code == "share" else ""
            raise CommandError(f"{exc.message}{hint}") from None
        self.stdout.write(
            f"{data_source.code}: accepted {snapshot.rows_accepted}, rejected {snapshot.rows_rejected}"
            f" (rows {snapshot.rows_total}, blank {snapshot.rows_blank}, snapshot {snapshot.public_id})"
        )
        for row in snapshot.rejected_rows.all()[:10]:
            self.stdout.write(f"  第{row.row_number}行：{'；'.join(row.reasons)}")
