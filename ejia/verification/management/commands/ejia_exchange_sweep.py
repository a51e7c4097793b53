from django.core.management.base import BaseCommand

from ejia.verification.services import staging_sweep


class Command(BaseCommand):
    help = "Discard unconfirmed department-file previews and orphaned staged uploads (they hold plaintext ID numbers)."

    def add_arguments(self, parser):
        parser.add_argument("--preview-days", type=int, default=7)
        parser.add_argument("--orphan-hours", type=int, default=24)

    def handle(self, *args, **options):
        counts = staging_sweep(preview_days=options["preview_days"], orphan_hours=options["orphan_hours"])
        self.stdout.write(
            f"exchange sweep: {counts['previews']} previews discarded, {counts['orphans']} orphaned uploads deleted"
        )
