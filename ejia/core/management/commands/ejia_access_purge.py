from django.core.management.base import BaseCommand, CommandError

from ejia.core.audit import AccessRetentionError
from ejia.core.health import access_purge_recorded


class Command(BaseCommand):
    help = (
        "Delete the API access log older than EJIA_ACCESS_RETENTION_DAYS (default 190, at least 184): "
        "whole sealed batches only, each checked against its seal first; never an unsealed row. "
        "Each run records audit.access_purge chain events naming the seals emptied. Run it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the setting for this run (>= 184)")

    def handle(self, *args, days: int | None, **options):
        try:
            result = access_purge_recorded(days=days)
        except AccessRetentionError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"older than {result.days} days (before {result.cutoff:%Y-%m-%d %H:%M}): deleted {result.rows} "
            f"access event(s) of {result.seals} seal(s) in {result.events} purge event(s)"
        )
        if result.broken:
            seqs = ", ".join(str(seq) for seq in result.broken[:20])
            raise CommandError(
                f"kept {len(result.broken)} seal(s) whose rows do not match them (audit chain seq {seqs}); "
                "run ejia_audit_verify"
            )
