from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from ejia.demo.second_factor import DEMO_TOTP_KEY, code_for_key, demo_secret_text, next_code


class Command(BaseCommand):
    help = (
        "Print the current second factor code of the demo accounts (they share the demo secret). "
        "With a username: the code that account's authenticator accepts next."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help="a demo account (optional)")

    def handle(self, *args, username=None, **options):
        if not username:
            self.stdout.write(code_for_key(DEMO_TOTP_KEY))
            return
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        if device is None:
            raise CommandError(f"{username} has no authenticator: it enrols on the second factor page.")
        if device.key != DEMO_TOTP_KEY:
            raise CommandError(
                f"{username} enrolled its own authenticator, not the demo secret ({demo_secret_text()})."
            )
        try:
            self.stdout.write(next_code(device))
        except ValueError as error:
            raise CommandError(str(error)) from None
