from django.core.management import call_command
from django.core.management.base import BaseCommand

from ejia.accounts.models import Role
from ejia.catalogue.seed import catalogue_seed
from ejia.demo.discovery import demo_leads_ensure
from ejia.demo.setup import organisation_ensure
from ejia.demo.staff import DEMO_PASSWORD, demo_staff_ensure


class Command(BaseCommand):
    help = "Load the demo city (organisation, staff accounts) idempotently and print the demo logins."

    def handle(self, *args, **options):
        counts = organisation_ensure()
        self.stdout.write(
            f"organisation: +{counts['divisions']} divisions, +{counts['departments']} departments, +{counts['units']} units"
        )
        self.stdout.write("catalogue: " + ", ".join(f"+{n} {k}" for k, n in catalogue_seed().items()))
        users = demo_staff_ensure()
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        for user in users:
            roles = "、".join(str(Role(r).label) for r in user.role_codes)
            self.stdout.write(f"  {user.username:<20} {roles}（{user.unit.name}）")
        call_command("ejia_sources_seed", stdout=self.stdout)
        call_command("ejia_registry_demo", stdout=self.stdout)
        call_command("ejia_procedures_seed", stdout=self.stdout)
        call_command("ejia_exchange_demo", stdout=self.stdout)
        call_command("ejia_demo_cases", stdout=self.stdout)
        demo_leads_ensure(log=self.stdout.write)
