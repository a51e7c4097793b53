from django.core.management.base import BaseCommand, CommandError

from ejia.registry.population import population_import


class Command(BaseCommand):
    help = "Import the 公安人口库 snapshot (CSV, UTF-8 or GBK) into the population lookup table."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file of the population base")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options):
        try:
            result = population_import(path=options["file"], batch_size=options["batch_size"])
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(result))
