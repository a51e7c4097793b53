from django.core.management.base import BaseCommand

from ejia.verification.models import DataSource
from ejia.verification.sources import sources_seed


class Command(BaseCommand):
    help = "Create or update the department data sources and their schemas (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--online-base-url", help="point every online source at this endpoint (e.g. the simulator)")

    def handle(self, *args, online_base_url=None, **options):
        created, updated = sources_seed()
        self.stdout.write(f"data sources: +{created} created, {updated} updated")
        if online_base_url:
            count = DataSource.objects.filter(online_enabled=True).update(base_url=online_base_url)
            self.stdout.write(f"online endpoint of {count} sources: {online_base_url}")
