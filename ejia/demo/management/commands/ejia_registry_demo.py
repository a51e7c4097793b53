from pathlib import Path

from django.core.management.base import BaseCommand

from ejia.demo.city import generate_city
from ejia.demo.registry_load import city_dir, registry_load_city


class Command(BaseCommand):
    help = "Load the synthetic city's persons and households into the registry (generates the city if missing)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", default="demo")
        parser.add_argument("--dir", default="", help="directory of the city files (default var/city/<scale>)")

    def handle(self, *args, **options):
        directory = Path(options["dir"]) if options["dir"] else city_dir(options["scale"])
        if not (directory / "persons.parquet").exists():
            self.stdout.write(f"registry: generating the synthetic city into {directory} …")
            generate_city(options["scale"], out_dir=directory)
        counts = registry_load_city(directory=directory)
        self.stdout.write("registry: " + ", ".join(f"+{n} {k}" for k, n in counts.items()))
