"""The case system's messages to the applicant (texts registered with the platform outbox,
`ejia.core.outbox`, in WorkflowConfig.ready). Each is written in the mover's transaction to
the phone number the case carries, scoped to the household's village for the staff outbox."""

from __future__ import annotations

from ejia.core.models import OutboxMessage
from ejia.core.outbox import outbox_enqueue

DEFAULT_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "case_received",
        "受理回执",
        "【e家大救助】您的救助申请已受理，受理号{reference}。可凭受理号和身份证号码后6位查询办理进度。",
    ),
    (
        "step_moved",
        "办理进度",
        "【e家大救助】您的申请（受理号{reference}）中的{programme}已进入“{step}”环节，请留意后续通知。",
    ),
    ("returned", "退回补充", "【e家大救助】您的申请（受理号{reference}）中的{programme}需补充办理：{reason}。"),
    ("notice_published", "公示开始", "【e家大救助】您申请的{programme}已在{village}公示，公示期至{end_date}。"),
    ("withdrawn", "撤回确认", "【e家大救助】您已撤回申请（受理号{reference}）中的{programme}。"),
    (
        "decision_issued",
        "决定通知",
        "【e家大救助】您的申请（受理号{reference}）已办结：{summary}。决定通知书编号{number}，"
        "如有异议可在60日内申请复核或行政复议。",
    ),
]


def case_message(*, case, dedup_key: str, template: str, context: dict) -> OutboxMessage | None:
    """One message about `case` to its phone, written in the caller's transaction."""
    return outbox_enqueue(
        dedup_key=dedup_key,
        recipient=case.phone,
        template=template,
        context=context,
        area_path=case.division.path,
        subject=case.reference,
    )
