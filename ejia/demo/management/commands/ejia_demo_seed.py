from django.core.management import call_command
from django.core.management.base import BaseCommand

from ejia.accounts.models import Role
from ejia.catalogue.seed import catalogue_seed
from ejia.demo.discovery import demo_leads_ensure
from ejia.demo.second_factor import demo_second_factor_ensure, demo_secret_text
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
        demo_second_factor_ensure(users)
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        for user in users:
            roles = "、".join(str(Role(r).label) for r in user.role_codes)
            self.stdout.write(f"  {user.username:<20} {roles}（{user.unit.name}）")
        self.stdout.write(
            "Second factor: every demo account is enrolled with the demo secret "
            f"{demo_secret_text()} (add it to an authenticator app as a time-based key),\n"
            "or print the current 6-digit code with: .venv/bin/python manage.py ejia_demo_code"
        )
        call_command("ejia_sources_seed", stdout=self.stdout)
        call_command("ejia_registry_demo", stdout=self.stdout)
        call_command("ejia_procedures_seed", stdout=self.stdout)
        call_command("ejia_exchange_demo", stdout=self.stdout)
        call_command("ejia_demo_cases", stdout=self.stdout)
        demo_leads_ensure(log=self.stdout.write)
        # Last: the history pays the households as the registry and the steps above left them.
        call_command("ejia_demo_history", stdout=self.stdout)
