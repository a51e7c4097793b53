from django.core.management.base import BaseCommand, CommandError

from ejia.api.dci.delivery import DeliveryError, deliveries_send, delivery_retry
from ejia.api.dci.transactions import search_complete, searches_unstarted
from ejia.api.models import DciDelivery


class Command(BaseCommand):
    help = (
        "Run accepted DCI searches whose task never ran and post due DCI callbacks to partners "
        "(safe to run concurrently; run it every minute from cron). --failed lists the callbacks "
        "that gave up, --retry ID sends one of them again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=200)
        parser.add_argument("--failed", action="store_true", help="list failed callbacks instead")
        parser.add_argument("--retry", type=int, default=None, metavar="ID", help="send a failed callback again")

    def handle(self, *args, limit: int, failed: bool, retry: int | None, **options):
        if failed:
            rows = DciDelivery.objects.filter(status=DciDelivery.Status.FAILED).select_related("client")
            for d in rows:
                self.stdout.write(f"{d.pk}\t{d.client.client_id}\t{d.action}\t{d.url}\t{d.attempts}\t{d.last_error}")
            self.stdout.write(f"{rows.count()} failed callback(s)")
            return
        if retry is not None:
            try:
                delivery_retry(actor=None, delivery_id=retry)
            except (DciDelivery.DoesNotExist, DeliveryError) as exc:
                raise CommandError(str(exc)) from exc
        for pk in searches_unstarted():
            search_complete(transaction_pk=pk)
        result = deliveries_send(limit=limit)
        self.stdout.write(
            f"sent {result.sent} callback(s); {result.waiting} to retry later, {result.failed} failed for good"
        )
