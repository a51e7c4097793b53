from django.core.management.base import BaseCommand

from ejia.demo.history import demo_history_ensure


class Command(BaseCommand):
    help = (
        "Backfill twelve months of demo history (entitlements, monthly batches with bank returns, "
        "applications) through the real services, then refresh the dashboards; running it twice adds nothing."
    )

    def handle(self, *args, **options):
        self.stdout.write("demo history (last 12 months):")
        result = demo_history_ensure(log=self.stdout.write)
        self.stdout.write("demo history: " + result.summary())
