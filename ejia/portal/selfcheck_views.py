"""The self-check pages: start, one question per page, check your answers, results, apply.

Plain forms with POST/redirect/GET; the answers travel in a signed cookie (answers.py).
"""

from __future__ import annotations

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ejia.accounts.policies import public_view
from ejia.portal import questions, results, selectors
from ejia.portal.answers import answers_clear, answers_load, answers_save

ORDER = [s.slug for s in questions.STEPS]


def _question_url(slug: str, *, change: bool = False) -> str:
    url = reverse("portal:selfcheck_question", args=[slug])
    return f"{url}?change=1" if change else url


@public_view
@never_cache
def selfcheck_start_view(request):
    answers = answers_load(request)
    resume = questions.first_unanswered(answers) if answers else None
    return render(
        request,
        "portal/selfcheck/start.html",
        {
            "has_answers": bool(answers),
            "resume_url": _question_url(resume.slug) if resume else reverse("portal:selfcheck_answers"),
            "first_url": _question_url(questions.STEPS[0].slug),
            "max_questions": len(questions.STEPS),
            "nav": "selfcheck",
        },
    )


@public_view
@never_cache
def selfcheck_question_view(request, slug: str):
    step = questions.STEP_BY_SLUG.get(slug)
    if step is None:
        raise Http404
    answers = answers_load(request)
    change = request.GET.get("change") == "1"
    if not step.applies(answers):
        following = questions.first_unanswered(answers)
        return redirect(_question_url(following.slug) if following else reverse("portal:selfcheck_answers"))
    missing = questions.first_unanswered(answers)
    if missing is not None and ORDER.index(missing.slug) < ORDER.index(step.slug):
        # Later questions check against earlier answers (ages against household size).
        return redirect(_question_url(missing.slug))

    if request.method == "POST":
        form = step.form_class(request.POST, answers=answers)
        if form.is_valid():
            answers[step.slug] = form.cleaned_data
            # Going forward walks every question (answers pre-filled); a change from the
            # check page returns there, via any question the change made necessary.
            following = questions.first_unanswered(answers) if change else questions.next_step(answers, step.slug)
            target = _question_url(following.slug, change=change) if following else reverse("portal:selfcheck_answers")
            response = HttpResponseRedirect(target)
            answers_save(request, response, answers)
            return response
    else:
        stored = answers.get(step.slug)
        form = step.form_class(answers=answers)
        if stored is not None:
            form.initial = form.initial_from(stored) if hasattr(form, "initial_from") else dict(stored)

    previous = questions.previous_step(answers, step.slug)
    if change:
        back_url = reverse("portal:selfcheck_answers")
    elif previous:
        back_url = _question_url(previous.slug)
    else:
        back_url = reverse("portal:selfcheck_start")
    steps = questions.applicable_steps(answers)
    number = [s.slug for s in steps].index(step.slug) + 1
    return render(
        request,
        "portal/selfcheck/question.html",
        {
            "step": step,
            "form": form,
            "back_url": back_url,
            "number": number,
            # The most the self-check may ask, as the start page says: answers that bring in a
            # question never make the count grow under the citizen's eyes.
            "total": len(questions.STEPS),
            "change": change,
            "nav": "selfcheck",
        },
    )


@public_view
@never_cache
def selfcheck_answers_view(request):
    answers = answers_load(request)
    missing = questions.first_unanswered(answers)
    if missing is not None:
        return redirect(_question_url(missing.slug))
    rows = [
        {
            "label": step.short,
            "value": step.summary(answers[step.slug], answers),
            "url": _question_url(step.slug, change=True),
        }
        for step in questions.applicable_steps(answers)
    ]
    last = questions.applicable_steps(answers)[-1]
    return render(
        request,
        "portal/selfcheck/answers.html",
        {"rows": rows, "back_url": _question_url(last.slug), "nav": "selfcheck"},
    )


@public_view
@never_cache
def selfcheck_results_view(request):
    answers = answers_load(request)
    missing = questions.first_unanswered(answers)
    if missing is not None:
        return redirect(_question_url(missing.slug))
    on = timezone.localdate()
    estimate = questions.build_estimate(answers, on)
    outcome = results.evaluate(estimate, on=on)
    place = selectors.place_get(estimate.division_code)
    return render(
        request,
        "portal/selfcheck/results.html",
        {"groups": outcome.groups, "place": place, "on": on, "error": outcome.error, "nav": "selfcheck"},
    )


@public_view
@never_cache
def selfcheck_apply_view(request):
    answers = answers_load(request)
    township = answers.get("place", {}).get("township")
    place = selectors.place_get(township)
    return render(
        request,
        "portal/selfcheck/apply.html",
        {"place": place, "units": selectors.windows_near(township), "nav": "selfcheck"},
    )


@public_view
@require_POST
def selfcheck_clear_view(request):
    response = redirect("portal:selfcheck_start")
    answers_clear(response)
    return response
