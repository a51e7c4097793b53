"""The tables of allowed moves for payment batches, payment lines and entitlements.

Like the workflow's table (ejia/cases/workflow/transitions.py): a row reads "from this state,
by this action, to that state, by these roles". Every state change of these three objects is
made by one of the `*_transition` functions below, which lock the row, look the move up here,
refuse anything not in the table with a Chinese message, write the change and an audit event.

Lines are written under their batch's row lock (the fixed order is batch → line), so the
return import, which answers up to a county's 100,000 lines at once, checks each line's move
against the table in memory and writes them set-based with one audit event for the import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, allows
from ejia.core.audit import audit_record
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentLine

B = PaymentBatch.Status
L = PaymentLine.Status
E = Entitlement.Status

# Who may move batches and lines: the access policy's payment capability (the county centre).
PAY = Capability.PAYMENT_MANAGE


class TransitionRefused(DisbursementError):
    """A move that the table does not allow from the object's current state."""


class BatchAction(models.TextChoices):
    CREATE = "create", _("创建批次")
    FINISH = "finish", _("生成完毕")
    AMEND = "amend", _("调整待发明细")
    RELEASE = "release", _("复核发放")
    EXPORT = "export", _("导出银行文件")
    IMPORT_RETURN = "import_return", _("导入银行回盘")
    RECONCILE = "reconcile", _("对账")


class LineAction(models.TextChoices):
    CREATE = "create", _("生成明细")
    RECHECK = "recheck", _("重新核对账户")
    BANK_PAID = "bank_paid", _("银行回盘：成功")
    BANK_MISMATCH = "bank_mismatch", _("银行回盘：成功但金额不符")
    BANK_FAILED = "bank_failed", _("银行回盘：失败")
    BANK_RETURNED = "bank_returned", _("银行回盘：退回")
    ACCEPT = "accept", _("按银行金额确认")
    REISSUE = "reissue", _("转入后续批次重新发放")


class EntitlementAction(models.TextChoices):
    CREATE = "create", _("生成待遇")
    SUSPEND = "suspend", _("暂停发放")
    RESUME = "resume", _("恢复发放")
    GRADUAL_EXIT = "gradual_exit", _("进入渐退期")
    END = "end", _("终止")
    CLOSE_ELAPSED = "close_elapsed", _("到期终止")


@dataclass(frozen=True)
class Move:
    action: str
    source: str | None
    target: str
    # None: the service decides who may act (its own area and capability checks).
    capability: Capability | None = None
    system_allowed: bool = True


@dataclass(frozen=True)
class Table:
    noun: str
    states: type[models.TextChoices]
    actions: type[models.TextChoices]
    moves: tuple[Move, ...]

    def __post_init__(self) -> None:
        # Looked up once per line of a 100,000-line return: an index, not a scan of the table.
        index: dict[tuple[str, str | None], list[Move]] = {}
        for move in self.moves:
            index.setdefault((move.action, move.source), []).append(move)
        object.__setattr__(self, "_index", index)

    def move_for(self, action: str, source: str | None, target: str | None = None) -> Move | None:
        for move in self._index.get((action, source), ()):
            if target in (None, move.target):
                return move
        return None

    def actions_from(self, state: str) -> list[str]:
        return [m.action for m in self.moves if m.source == state]

    def check(self, *, action: str, source: str | None, actor=None, target: str | None = None) -> Move:
        move = self.move_for(action, source, target)
        if move is None:
            where = self.states(source).label if source else _("尚未创建")
            raise TransitionRefused(f"{self.noun}当前状态为“{where}”，不能“{self.actions(action).label}”。")
        if actor is None or not getattr(actor, "pk", None):
            if not move.system_allowed:
                raise TransitionRefused(f"“{self.actions(action).label}”须由工作人员办理。")
        elif move.capability and not actor.is_superuser and not allows(actor, move.capability):
            raise TransitionRefused(f"您的角色不能办理{self.noun}的“{self.actions(action).label}”。")
        return move


_ANSWERED = (L.PAID, L.MISMATCH, L.ACCEPTED, L.FAILED, L.RETURNED)
_BANK_ANSWERS = {
    LineAction.BANK_PAID: L.PAID,
    LineAction.BANK_MISMATCH: L.MISMATCH,
    LineAction.BANK_FAILED: L.FAILED,
    LineAction.BANK_RETURNED: L.RETURNED,
}

BATCH = Table(
    str(_("发放批次")),
    B,
    BatchAction,
    (
        Move(BatchAction.CREATE, None, B.BUILDING, PAY),
        Move(BatchAction.FINISH, B.BUILDING, B.BUILT, PAY),
        # Before release the preparer may still add a re-issued line or bring back a held one.
        Move(BatchAction.AMEND, B.BUILDING, B.BUILDING, PAY),
        Move(BatchAction.AMEND, B.BUILT, B.BUILT, PAY),
        Move(BatchAction.RELEASE, B.BUILT, B.RELEASED, PAY, system_allowed=False),
        Move(BatchAction.EXPORT, B.RELEASED, B.EXPORTED, PAY, system_allowed=False),
        Move(BatchAction.EXPORT, B.EXPORTED, B.EXPORTED, PAY, system_allowed=False),
        Move(BatchAction.IMPORT_RETURN, B.EXPORTED, B.EXPORTED, PAY, system_allowed=False),
        Move(BatchAction.RECONCILE, B.EXPORTED, B.RECONCILED, PAY, system_allowed=False),
    ),
)

LINE = Table(
    str(_("发放明细")),
    L,
    LineAction,
    (
        Move(LineAction.CREATE, None, L.PENDING, PAY),
        Move(LineAction.CREATE, None, L.HELD, PAY),
        Move(LineAction.RECHECK, L.HELD, L.PENDING, PAY),
        # The bank's answer, and a corrected answer later: the latest return for a line wins.
        *(
            Move(action, source, target, PAY, system_allowed=False)
            for action, target in _BANK_ANSWERS.items()
            for source in (L.PENDING, *_ANSWERED)
        ),
        Move(LineAction.ACCEPT, L.MISMATCH, L.ACCEPTED, PAY, system_allowed=False),
        Move(LineAction.REISSUE, L.FAILED, L.REISSUED, PAY),
        Move(LineAction.REISSUE, L.RETURNED, L.REISSUED, PAY),
        # A held line goes into a later batch once the household's account is complete.
        Move(LineAction.REISSUE, L.HELD, L.REISSUED, PAY),
    ),
)

_LIVE = (E.ACTIVE, E.SUSPENDED, E.GRADUAL_EXIT)
ENTITLEMENT = Table(
    str(_("待遇")),
    E,
    EntitlementAction,
    (
        Move(EntitlementAction.CREATE, None, E.ACTIVE),
        # The successor of an entitlement in gradual exit keeps going out (amount changed).
        Move(EntitlementAction.CREATE, None, E.GRADUAL_EXIT),
        Move(EntitlementAction.SUSPEND, E.ACTIVE, E.SUSPENDED),
        Move(EntitlementAction.SUSPEND, E.GRADUAL_EXIT, E.SUSPENDED),
        Move(EntitlementAction.RESUME, E.SUSPENDED, E.ACTIVE),
        Move(EntitlementAction.GRADUAL_EXIT, E.ACTIVE, E.GRADUAL_EXIT),
        Move(EntitlementAction.GRADUAL_EXIT, E.SUSPENDED, E.GRADUAL_EXIT),
        *(Move(EntitlementAction.END, source, E.ENDED) for source in _LIVE),
        # Ending again from an earlier month (a termination back-dated after a death, say).
        Move(EntitlementAction.END, E.ENDED, E.ENDED),
        Move(EntitlementAction.CLOSE_ELAPSED, E.ACTIVE, E.ENDED),
        Move(EntitlementAction.CLOSE_ELAPSED, E.GRADUAL_EXIT, E.ENDED),
    ),
)


def _save(obj, changes: dict, *, timestamps: bool) -> None:
    for name, value in changes.items():
        setattr(obj, name, value)
    fields = ["status", *changes]
    if timestamps:
        fields.append("updated_at")
    obj.save(update_fields=sorted(set(fields)))


def batch_transition(
    *, actor, batch_id: int, action: str, audit_action: str = "", reason: str = "", data: dict | None = None, **changes
) -> PaymentBatch:
    """Lock the batch, check the move, apply it with `changes`, write the audit event."""
    with transaction.atomic():
        batch = PaymentBatch.objects.select_for_update().select_related("county").get(pk=batch_id)
        source = batch.status
        move = BATCH.check(action=action, source=source, actor=actor)
        batch.status = move.target
        _save(batch, changes, timestamps=True)
        audit_record(
            actor=actor,
            action=audit_action or f"disbursement.batch_{action}",
            obj=batch,
            reason=reason,
            data={"from": source, "to": move.target, **(data or {})},
        )
    return batch


def line_transition(
    *, actor, line_id: int, action: str, audit_action: str = "", reason: str = "", data: dict | None = None, **changes
) -> PaymentLine:
    """One line's move: its batch is locked first, then the line (the fixed order)."""
    with transaction.atomic():
        batch_id = PaymentLine.objects.values_list("batch_id", flat=True).get(pk=line_id)
        PaymentBatch.objects.select_for_update().filter(pk=batch_id).values_list("pk", flat=True).get()
        line = PaymentLine.objects.select_for_update().get(pk=line_id)
        source = line.status
        move = LINE.check(action=action, source=source, actor=actor)
        line.status = move.target
        _save(line, changes, timestamps=False)
        audit_record(
            actor=actor,
            action=audit_action or f"disbursement.line_{action}",
            obj=line,
            object_id=line.reference,
            reason=reason,
            data={"batch": batch_id, "from": source, "to": move.target, **(data or {})},
        )
    return line


@dataclass(frozen=True)
class LineChange:
    line_id: int
    source: str
    action: str
    fields: dict


def lines_transition_bulk(
    *, actor, batch: PaymentBatch, changes: Iterable[LineChange], audit_action: str, data: dict
) -> Counter:
    """Many lines of one batch at once. The caller holds the batch's row lock (every line writer
    takes it first), so the states read under it are current; each move is checked against the
    table, then written set-based — lines changing the same fields together, so that a county's
    first return (four fields each) is not slowed by the few corrections that clear more — and
    one audit event counts the moves."""
    groups: dict[tuple[str, ...], list[tuple]] = {}
    moves: Counter = Counter()
    for change in changes:
        move = LINE.check(action=change.action, source=change.source, actor=actor)
        names = tuple(sorted(change.fields))
        groups.setdefault(names, []).append((change.line_id, move.target, *(change.fields[n] for n in names)))
        moves[f"{change.source}→{move.target}"] += 1
    for names, rows in groups.items():
        _update_rows(rows, ["status", *names])
    audit_record(actor=actor, action=audit_action, obj=batch, data={**data, "moves": dict(moves)})
    return moves


_ROWS_PER_UPDATE = 2000


def _update_rows(rows: list[tuple], names: list[str]) -> None:
    """UPDATE … FROM (VALUES …): one statement per 2,000 lines, whatever their values — Django's
    bulk_update builds a CASE per field and row, minutes and gigabytes at a county's size.
    `rows` are (pk, value of each of `names` in order), values as the model's fields take them."""
    fields = [PaymentLine._meta.get_field(name) for name in names]
    table = PaymentLine._meta.db_table
    qn = connection.ops.quote_name
    pg = connection.vendor == "postgresql"
    cast = [f"CAST(%s AS {f.db_type(connection)})" if pg else "%s" for f in fields]
    columns = ", ".join(qn(f.column) for f in fields)
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in fields)
    with connection.cursor() as cur:
        for start in range(0, len(rows), _ROWS_PER_UPDATE):
            part = rows[start : start + _ROWS_PER_UPDATE]
            values = ", ".join(
                f"(CAST(%s AS bigint), {', '.join(cast)})" if pg else f"(%s, {', '.join(cast)})" for _ in part
            )
            params = []
            for pk, *row in part:
                params.append(pk)
                params.extend(f.get_db_prep_save(value, connection) for f, value in zip(fields, row, strict=True))
            cur.execute(
                f"WITH v(id, {columns}) AS (VALUES {values}) "  # noqa: S608 -- names from the model only
                f"UPDATE {qn(table)} SET {sets} FROM v WHERE {qn(table)}.id = v.id",
                params,
            )


def entitlement_transition(
    *,
    actor,
    entitlement_id: int,
    action: str,
    audit_action: str = "",
    reason: str = "",
    data: dict | None = None,
    **changes,
) -> Entitlement:
    """Lock the entitlement (its household is locked first by the caller), check, write, audit."""
    with transaction.atomic():
        ent = Entitlement.objects.select_for_update().select_related("programme").get(pk=entitlement_id)
        source = ent.status
        move = ENTITLEMENT.check(action=action, source=source, actor=actor)
        ent.status = move.target
        _save(ent, changes, timestamps=True)
        audit_record(
            actor=actor,
            action=audit_action or f"disbursement.entitlement_{action}",
            obj=ent,
            reason=reason,
            data={"from": source, "to": move.target, **(data or {})},
        )
    return ent
