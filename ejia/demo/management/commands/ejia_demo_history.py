import logging

from django.core.management.base import BaseCommand

from ejia.demo.history import demo_history_ensure


class Command(BaseCommand):
    help = (
        "Backfill twelve months of demo history (entitlements, monthly batches with bank returns, "
        "applications) through the real services, then refresh the dashboards; running it twice adds nothing."
    )

    def handle(self, *args, **options):
        self.stdout.write("demo history (last 12 months):")
        # The applications' SMS go to the outbox as in ejia_demo_cases; only the console echo is held back.
        sms = logging.getLogger("ejia.sms")
        level = sms.level
        sms.setLevel(logging.WARNING)
        try:
            result = demo_history_ensure(log=self.stdout.write)
        finally:
            sms.setLevel(level)
        self.stdout.write("demo history: " + result.summary())
