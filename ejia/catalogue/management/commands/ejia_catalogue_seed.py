from django.core.management.base import BaseCommand

from ejia.catalogue.seed import catalogue_seed


class Command(BaseCommand):
    help = "Load the 69 seed programmes (version 1 published from 2023-07-01) and the 2023 standards; idempotent."

    def handle(self, *args, **options):
        counts = catalogue_seed()
        self.stdout.write(
            f"catalogue: +{counts['programmes']} programmes, +{counts['versions']} published versions, "
            f"+{counts['standards']} standards"
        )
