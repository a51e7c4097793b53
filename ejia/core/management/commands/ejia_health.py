from django.core.management.base import BaseCommand, CommandError

from ejia.core.health import failing, operations, readiness


class Command(BaseCommand):
    help = (
        "Print the platform's checks (database, migrations, task worker, failed tasks, access-log seal, "
        "the nightly jobs' last outcome); exit code 1 if any fails. For monitoring from cron."
    )

    def handle(self, *args, **options):
        checks = readiness()
        if all(check.ok for check in checks):
            checks += operations()
        for check in checks:
            self.stdout.write(f"{'OK  ' if check.ok else 'FAIL'} {check.key:18} {check.label}：{check.detail}")
        bad = failing(checks)
        if bad:
            raise CommandError(f"{len(bad)} 项检查未通过：{'、'.join(check.key for check in bad)}")
