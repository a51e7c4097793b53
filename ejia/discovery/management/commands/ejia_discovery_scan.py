"""Nightly 主动发现: scan the city (or one county) now, in this process, and print the figures."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ejia.accounts.models import Division


class Command(BaseCommand):
    help = "主动发现：比对救助对象库和部门数据，生成或更新线索（默认全市）。"

    def add_arguments(self, parser):
        parser.add_argument("--area", default="", help="县（市、区）或市的行政区划代码；默认全市")

    def handle(self, *args, **options):
        from ejia.discovery.scan import ScanRefused, scan_run, scan_start

        if options["area"]:
            area = Division.objects.filter(code=options["area"]).first()
            if area is None:
                raise CommandError(f"没有行政区划 {options['area']}")
        else:
            area = Division.objects.filter(level=Division.Level.CITY).order_by("code").first()
            if area is None:
                raise CommandError("尚未导入行政区划。")
        try:
            scan = scan_start(actor=None, area=area, run=False)
        except ScanRefused as exc:
            raise CommandError(exc.message) from exc
        scan = scan_run(scan_id=scan.pk)
        t = scan.timings
        self.stdout.write(
            f"discovery {area.name}: {scan.status}, {scan.households} households, {scan.members} members, "
            f"{scan.candidates} candidates ({t.get('explained_households', 0)} explained); leads +{scan.leads_new} new, "
            f"{scan.leads_updated} found again ({scan.leads_unchanged} unchanged), "
            f"{scan.leads_closed} closed; {t.get('total', 0)} s "
            f"(export {t.get('export', 0)}, evaluate {t.get('evaluate', 0)}, subtract {t.get('subtract', 0)}, "
            f"explain {t.get('explain', 0)}, "
            f"upsert {t.get('upsert', 0)}), peak RSS {t.get('peak_rss_mb', 0)} MB"
        )
