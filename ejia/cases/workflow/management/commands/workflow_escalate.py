from django.core.management.base import BaseCommand

from ejia.cases.workflow.services import procedures_escalate_overdue


class Command(BaseCommand):
    help = "Escalate overdue steps to the unit above (daily; idempotent)."

    def handle(self, *args, **options):
        self.stdout.write(f"escalated {procedures_escalate_overdue()} overdue step(s)")
