from django.core.management.base import BaseCommand, CommandError

from ejia.core.health import job_run
from ejia.core.invariants import registered, run_invariants


class Command(BaseCommand):
    help = (
        "Check the database-wide invariants (audit chain, import counts, payment batch totals, open "
        "memberships, approved cash decisions); exit code 1 if any fails. Run after a restore, nightly, "
        "or before a release."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="only these invariants (see --list)")
        parser.add_argument("--list", action="store_true", help="list the invariants and exit")
        parser.add_argument("--limit", type=int, default=20, help="problems shown per invariant (default 20)")

    def handle(self, *args, names, list=False, limit=20, **options):
        if list:
            for inv in registered():
                self.stdout.write(f"{inv.name:28} {inv.description}")
            return
        try:
            if names:  # a partial run is not the nightly check: not recorded
                results = run_invariants(names=names, limit=limit)
            else:
                with job_run("check_invariants") as job:
                    results = run_invariants(limit=limit)
                    bad = [r.invariant.name for r in results if not r.ok]
                    if bad:
                        job.failed(
                            f"{len(bad)} 项不变量不成立：{'、'.join(bad)}（manage.py ejia_check_invariants 查看明细）"
                        )
                    else:
                        job.passed(f"{len(results)} 项全部成立")
        except KeyError as exc:
            raise CommandError(f"未知的不变量：{exc.args[0]}（用 --list 查看）") from None
        failed = 0
        total = 0.0
        for result in results:
            total += result.seconds
            mark = "OK  " if result.ok else "FAIL"
            self.stdout.write(
                f"{mark} {result.invariant.name:28} {result.seconds:6.2f} s  {result.invariant.description}"
            )
            if result.error:
                self.stdout.write(f"       检查出错：{result.error}")
            for problem in result.problems:
                self.stdout.write(f"       - {problem}")
            failed += not result.ok
        self.stdout.write(f"{len(results)} invariants, {failed} failed, {total:.2f} s")
        if failed:
            raise CommandError(f"{failed} 项不变量不成立。")
