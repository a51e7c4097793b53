from django.core.management.base import BaseCommand

from ejia.core.outbox import outbox_send


class Command(BaseCommand):
    help = (
        "Send due outbox messages (at least once; safe to run concurrently). Run it every minute "
        "from cron: it sends what a crash between a commit and the send task left behind."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, limit: int, **options):
        result = outbox_send(limit=limit)
        self.stdout.write(
            f"sent {result.sent} message(s); {result.waiting} to retry later, {result.failed} failed for good"
        )
