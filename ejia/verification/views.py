from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.core.audit import audit_record
from ejia.verification import export
from ejia.verification.files import FileRefused, limit
from ejia.verification.forms import CommitForm, UploadForm
from ejia.verification.guard import commit_verdict
from ejia.verification.selectors import (
    rejected_rows_page,
    snapshot_get_for_user,
    snapshot_history,
    source_get_for_user,
    sources_overview,
)
from ejia.verification.services import snapshot_commit_request, snapshot_stage, upload_stage
from ejia.verification.tasks import analyse_snapshot

operator_page = staff_view(Capability.EXCHANGE_OPERATE)


@operator_page
def source_list_view(request):
    return render(request, "verification/sources.html", {"rows": sources_overview(user=request.user)})


@operator_page
def upload_view(request, code):
    source = source_get_for_user(user=request.user, code=code)
    form = UploadForm()
    error = ""
    if request.method == "POST":
        cap = limit("MAX_FILE_BYTES")
        # Refuse an oversized upload from its declared length, before Django reads the body.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > cap + 64 * 1024:
            error = f"文件过大：超过上限 {cap / 1048576:.0f} MB。请按区县或月份拆分后分批导入。"
        else:
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    path = upload_stage(chunks=upload.chunks())
                    snapshot = snapshot_stage(actor=request.user, source=source, path=path, file_name=upload.name)
                except FileRefused as exc:
                    error = exc.message
                else:
                    analyse_snapshot.enqueue(snapshot.pk)
                    return redirect("verification:snapshot", public_id=snapshot.public_id)
    context = {"source": source, "form": form, "error": error, "history": snapshot_history(source=source)}
    return render(request, "verification/upload.html", context, status=400 if error else 200)


@operator_page
def snapshot_view(request, public_id):
    snapshot = snapshot_get_for_user(user=request.user, public_id=public_id)
    verdict = None
    if snapshot.status == snapshot.Status.PREVIEW:
        verdict = commit_verdict(
            source=snapshot.source, rows_accepted=snapshot.rows_accepted, rows_total=snapshot.rows_total
        )
    context = {
        "snapshot": snapshot,
        "verdict": verdict,
        "commit_form": CommitForm(),
        "source": snapshot.source,
        "rejected": rejected_rows_page(snapshot=snapshot),
        "columns": snapshot.source.columns,
    }
    return render(request, "verification/snapshot.html", context)


@operator_page
@require_POST
def snapshot_commit_view(request, public_id):
    snapshot = snapshot_get_for_user(user=request.user, public_id=public_id)
    form = CommitForm(request.POST)
    reason = form.cleaned_data["override_reason"] if form.is_valid() else ""
    # The page itself says what happens next (写入中 while the worker commits, then 已入库, or the
    # commit guard's reason for refusing), inside the part that refreshes; a flash message above
    # it would outlive the state it describes.
    snapshot = snapshot_commit_request(actor=request.user, snapshot_id=snapshot.pk, override_reason=reason)
    return redirect("verification:snapshot", public_id=snapshot.public_id)


@operator_page
def rejected_download_view(request, public_id, fmt):
    snapshot = snapshot_get_for_user(user=request.user, public_id=public_id)
    if fmt not in ("csv", "xlsx"):
        raise Http404("不支持的格式。")
    audit_record(actor=request.user, action="exchange.rejected_download", obj=snapshot, data={"format": fmt})
    stem = f"{snapshot.source.code}-rejected-{snapshot.created_at:%Y%m%d%H%M}"
    if fmt == "csv":
        response = HttpResponse(export.rejected_csv(snapshot), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            export.rejected_xlsx(snapshot),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response
