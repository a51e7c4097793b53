from django.core.management.base import BaseCommand

from ejia.dashboards.refresh import recent_months, refresh


class Command(BaseCommand):
    help = "Rebuild the dashboard summaries of the last N months (run nightly from cron)."

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, default=12)

    def handle(self, *args, months, **options):
        runs = refresh(months=recent_months(count=months), trigger="nightly")
        failed = [r for r in runs if r.status == "failed"]
        for r in failed:
            self.stderr.write(f"{r.month:%Y-%m}: {r.error}")
        self.stdout.write(f"{len(runs) - len(failed)} months refreshed, {len(failed)} failed")
        if failed:
            raise SystemExit(1)
