"""Build (or resume building) a county's monthly payment batch: safe to run twice, or after a crash."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ejia.disbursement.batches import DEFAULT_CHUNK, batch_build
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import parse_period
from ejia.disbursement.services import entitlements_close_elapsed


class Command(BaseCommand):
    help = "生成（或续做）某县某月的发放批次：ejia_batch_build 371602 2026-05 --user dave"
    # A worker: the database state is what matters, and a half-edited URLconf elsewhere must not stop pay day.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("county")
        parser.add_argument("period", help="YYYY-MM")
        parser.add_argument("--user", required=True, help="生成人（工作人员用户名）")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK)

    def handle(self, *args, county, period, user, chunk_size, **options):
        try:
            month = parse_period(period)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        actor = get_user_model().objects.filter(username=user).first()
        if actor is None:
            raise CommandError(f"未找到用户 {user}。")
        # Entitlements whose last month is behind us are marked ended (set-based, idempotent).
        closed = entitlements_close_elapsed(on=month)
        if closed:
            self.stdout.write(f"{closed} 项待遇已到期终止。")
        try:
            batch = batch_build(actor=actor, county=county, period=month, chunk_size=chunk_size)
        except DisbursementError as exc:
            raise CommandError(str(exc)) from None
        for problem in getattr(batch, "decision_problems", []):
            self.stderr.write(f"已批准但未能生成待遇：{problem}")
        self.stdout.write(
            f"{batch.reference} {batch.get_status_display()}：{batch.line_count} 笔，"
            f"{batch.total_fen} 分，暂缓 {batch.held_count} 户"
        )
