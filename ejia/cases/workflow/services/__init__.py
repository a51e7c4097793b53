"""Every move of a request's procedure is one function in this package.

Each one: keyword-only arguments, one transaction, the procedure row locked
(`select_for_update`), the move looked up in `transitions.TRANSITIONS` and checked
against the version the actor's screen was drawn from, an audit event naming the actor,
notifications written to the outbox in the same transaction.

- `moves`: units, start, the checks and the state moves (complete, return, approve,
  refuse, escalate);
- `records`: what a step records (home visit, appraisal, self-care assessment);
- `notices`: the village public notice with objections, the joint review and the one
  decision notice;
- `withdrawal`: the applicant withdraws a case or some of its requests;
- `claims`: a staff member claims a request of the unit's queue, or releases it.
"""

from ejia.cases.workflow.services.claims import procedure_claim, procedure_release  # noqa: F401
from ejia.cases.workflow.services.moves import (  # noqa: F401
    StaleScreen,
    WorkflowError,
    acting_unit_for,
    mask_name,
    on_approval,
    procedure_approve,
    procedure_complete,
    procedure_escalate,
    procedure_refuse,
    procedure_return,
    procedures_escalate_overdue,
    procedures_start_for_case,
    proposed_amount,
    stale_message,
    unit_above,
)
from ejia.cases.workflow.services.notices import (  # noqa: F401
    decision_content,
    joint_review_issue,
    joint_review_unit,
    notice_close,
    notice_publish,
    objection_record,
    objection_resolve,
)
from ejia.cases.workflow.services.records import (  # noqa: F401
    MAX_PHOTO_BYTES,
    appraisal_record,
    home_visit_record,
    self_care_record,
    validate_photo,
)
from ejia.cases.workflow.services.withdrawal import case_withdraw, procedure_withdraw  # noqa: F401
