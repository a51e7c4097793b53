from django.core.management.base import BaseCommand

from ejia.cases.workflow.notifications import outbox_send


class Command(BaseCommand):
    help = "Send pending outbox notifications (at least once; safe to run concurrently)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, limit: int, **options):
        self.stdout.write(f"sent {outbox_send(limit=limit)} message(s)")
