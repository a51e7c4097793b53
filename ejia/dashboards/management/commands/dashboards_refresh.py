from django.core.management.base import BaseCommand

from ejia.dashboards.refresh import NIGHTLY_MONTHS, recent_months, refresh


class Command(BaseCommand):
    help = (
        "Rebuild the dashboard summaries of the last N months: nightly from cron with the default "
        f"({NIGHTLY_MONTHS}), weekly with --months 12."
    )

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, default=NIGHTLY_MONTHS)

    def handle(self, *args, months, **options):
        runs = refresh(months=recent_months(count=months), trigger="nightly" if months <= NIGHTLY_MONTHS else "full")
        failed = [r for r in runs if r.status == "failed"]
        for r in failed:
            self.stderr.write(f"{r.month:%Y-%m}: {r.error}")
        self.stdout.write(f"{len(runs) - len(failed)} months refreshed, {len(failed)} failed")
        if failed:
            raise SystemExit(1)
