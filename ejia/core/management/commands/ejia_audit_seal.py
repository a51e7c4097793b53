from django.core.management.base import BaseCommand

from ejia.core.audit import access_seal


class Command(BaseCommand):
    help = (
        "Seal the access events (API calls) recorded since the last run into the audit chain: one "
        "chain event per 10,000 rows with their count and digest. Run every minute (cron); idempotent."
    )

    def handle(self, *args, **options):
        result = access_seal()
        self.stdout.write(f"已封存 {result.sealed} 条接口访问记录（{result.seals} 个封存事件）。")
