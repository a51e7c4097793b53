import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ejia.demo.registry_load import city_dir
from ejia.verification.files import FileRefused
from ejia.verification.models import DataSource, SourceSnapshot
from ejia.verification.services import CommitRefused, snapshot_import


class Command(BaseCommand):
    help = (
        "Import the demo city's department exports (departments/manifest.json) as the committed snapshot "
        "of every source that has none yet, so that 一键核对 and batch re-verification have data (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", default="demo")
        parser.add_argument(
            "--dir", default="", help="directory of the department files (default var/city/<scale>/departments)"
        )
        parser.add_argument("--max-mb", type=int, help="raise the file size cap (full-scale files)")

    def handle(self, *args, scale="demo", dir="", max_mb=None, **options):
        directory = Path(dir) if dir else city_dir(scale) / "departments"
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            self.stdout.write(f"exchange: no department files at {directory}; run ejia_registry_demo first. Skipped.")
            return
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
        except ValueError as exc:
            raise CommandError(f"manifest.json 无法读取：{exc}") from None
        sources = {s.code: s for s in DataSource.objects.all()}
        if not sources:
            raise CommandError("尚未配置数据源，请先运行 ejia_sources_seed。")
        committed = set(
            SourceSnapshot.objects.filter(status=SourceSnapshot.Status.COMMITTED).values_list("source__code", flat=True)
        )
        imported = kept = 0
        for entry in manifest.get("files", []):
            code = entry.get("source", "")
            source = sources.get(code)
            if source is None:
                self.stdout.write(f"exchange: {code}: unknown source, skipped")
                continue
            if code in committed:
                kept += 1
                self.stdout.write(f"exchange: {code}: already has a committed snapshot, kept")
                continue
            path = directory / (entry.get("file") or "")
            if not entry.get("file") or not path.is_file():
                self.stdout.write(f"exchange: {code}: no CSV file in the manifest's directory, skipped")
                continue
            try:
                snapshot = snapshot_import(
                    actor=None, source=source, path=path, max_bytes=max_mb * 1024 * 1024 if max_mb else None
                )
            except FileRefused as exc:
                raise CommandError(f"{code}：文件被拒收：{exc.message}") from None
            except CommitRefused as exc:  # e.g. no accepted row at a tiny scale: nothing to commit
                self.stdout.write(f"exchange: {code}: not committed: {exc.message}")
                continue
            imported += 1
            self.stdout.write(
                f"exchange: {code}: accepted {snapshot.rows_accepted}, rejected {snapshot.rows_rejected}"
                f" ({entry.get('file')})"
            )
        self.stdout.write(f"exchange: {imported} sources imported, {kept} kept, {len(sources)} configured")
