from django.core.management.base import BaseCommand, CommandError

from ejia.core.audit import audit_verify
from ejia.core.health import job_run


class Command(BaseCommand):
    help = "Verify the hash chain of the audit event log and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--no-anchor", action="store_true", help="skip the external head anchor check")

    def handle(self, *args, **options):
        # The outcome is recorded for the 运行状态 page and the system administrator's work item.
        with job_run("audit_verify") as job:
            result = audit_verify(check_anchor=not options["no_anchor"])
            if result.ok:
                job.passed()
            else:
                job.failed(str(result))
        if not result.ok:
            raise CommandError(str(result))
        self.stdout.write(str(result))
