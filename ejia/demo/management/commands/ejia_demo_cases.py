import logging
import time

from django.core.management.base import BaseCommand

from ejia.demo.cases import demo_cases_ensure
from ejia.demo.dynamic import demo_dynamic_ensure


class Command(BaseCommand):
    help = (
        "Accept a few applications from demo households and walk them through the workflow with the demo "
        "staff, so every queue has work (idempotent: existing demo cases are kept)."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        self.stdout.write("demo cases:")
        # Every step's SMS is written to the outbox and sent to var/sms.log by the task worker;
        # where tasks run inline, only the console echo is held back.
        sms = logging.getLogger("ejia.sms")
        level = sms.level
        sms.setLevel(logging.WARNING)
        try:
            created = demo_cases_ensure(log=self.stdout.write)
            self.stdout.write("demo 动态管理:")
            dynamic = demo_dynamic_ensure(log=self.stdout.write)
        finally:
            sms.setLevel(level)
        self.stdout.write(
            f"demo cases: +{created} created, +{dynamic} 动态管理 households ({time.monotonic() - started:.1f} s)"
        )
