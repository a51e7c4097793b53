from django.core.management.base import BaseCommand, CommandError

from ejia.api.dci.retention import RetentionError, dci_purge


class Command(BaseCommand):
    help = (
        "Delete DCI exchanges that are over and older than EJIA_DCI_RETENTION_DAYS (default 90): "
        "delivered callbacks, ended subscriptions, finished transactions. Failed callbacks stay until "
        "handled. Audited (counts only). Run it daily from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the setting for this run")

    def handle(self, *args, days: int | None, **options):
        try:
            result = dci_purge(days=days)
        except RetentionError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"older than {result.days} days (before {result.cutoff:%Y-%m-%d %H:%M}): deleted {result.deliveries} "
            f"delivered callback(s), {result.subscriptions} ended subscription(s), {result.transactions} "
            f"transaction(s); kept {result.failed_kept} failed callback(s) until handled"
        )
