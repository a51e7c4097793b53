from django.core.management.base import BaseCommand

from ejia.cases.workflow.procedures import procedures_seed
from ejia.core.outbox import templates_seed


class Command(BaseCommand):
    help = "Seed the procedure templates of every programme and the SMS templates (idempotent)."

    def handle(self, *args, **options):
        counts = procedures_seed()
        sms = templates_seed()
        self.stdout.write(
            f"procedures: +{counts['templates']} templates, +{counts['steps']} steps, +{sms} SMS templates"
        )
