"""短信发送记录: the county centre sees the messages to the households of its area (sent,
waiting, failed, retried; phone numbers masked) and sends a failed one again."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.cases.selectors import OUTBOX_FILTERS, outbox_counts, outbox_for_user, outbox_message_get_for_user
from ejia.core.audit import audit_record
from ejia.core.models import NotificationTemplate
from ejia.core.outbox import OutboxError, default_templates, outbox_retry
from ejia.core.searches import Search, search_asked, search_post
from ejia.core.sms import mask_phone

outbox_page = staff_view(Capability.OUTBOX_READ, cache=False)

TABS = (
    ("", _("全部")),
    ("pending", _("待发送")),
    ("sent", _("已发送")),
    ("failed", _("发送失败")),
    ("retried", _("重试过")),
    ("no_recipient", _("无有效手机号码")),
)


def _template_names() -> dict[str, str]:
    names = {code: name for code, (name, _text) in default_templates().items()}
    names.update(NotificationTemplate.objects.values_list("code", "name"))
    return names


@outbox_page
def outbox_view(request):
    """Searched by reference, batch number or phone number: the form posts, and a phone number
    travels on in a session handle, never in the URL (ejia.core.searches)."""
    path = reverse("cases:outbox")
    show = (request.POST if request.method == "POST" else request.GET).get("show", "")
    show = show if show in OUTBOX_FILTERS else ""
    asked, move = search_asked(request)
    if move:
        return redirect(asked.url(path, show=show))
    query = asked.query
    page = Paginator(outbox_for_user(user=request.user, show=show, query=query), 50).get_page(request.GET.get("page"))
    # The texts name references, amounts and reasons of households: reads are logged.
    audit_record(actor=request.user, action="cases.outbox_view", data={"show": show, "q": query[:40]})
    names = _template_names()
    rows = [
        {"m": m, "phone": mask_phone(m.recipient), "kind": names.get(m.template, m.template)} for m in page.object_list
    ]
    counts = outbox_counts(user=request.user)
    return render(
        request,
        "cases/outbox.html",
        {
            "page": page,
            "rows": rows,
            "show": show,
            "query": query,
            "asked": asked,
            "keep": asked.params(show=show),
            "tabs": [(key, label, counts[key or "all"], asked.params(show=key)) for key, label in TABS],
        },
    )


@outbox_page
@require_POST
def outbox_retry_view(request, public_id):
    message = outbox_message_get_for_user(user=request.user, public_id=public_id)
    try:
        outbox_retry(actor=request.user, message=message)
    except OutboxError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已重新放入发送队列：发往 {mask_phone(message.recipient)} 的短信。")
    # Back to the list as it was: the search rides in its handle (or a reference in `q`).
    handle = request.POST.get("s", "")
    back = Search(carried={"s": handle}) if handle else search_post(request, request.POST.get("q", ""))
    return redirect(back.url(reverse("cases:outbox"), show=request.POST.get("show", "")))
