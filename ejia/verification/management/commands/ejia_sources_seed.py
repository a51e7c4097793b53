from django.core.management.base import BaseCommand

from ejia.verification.sources import sources_seed


class Command(BaseCommand):
    help = "Create or update the department data sources and their schemas (idempotent)."

    def handle(self, *args, **options):
        created, updated = sources_seed()
        self.stdout.write(f"data sources: +{created} created, {updated} updated")
