"""No valid ID number in plaintext anywhere in the database (PIPL Art. 28, ARCHITECTURE §8)."""

import pytest
from django.db import connection

from ejia.cases.drafts import draft_start
from ejia.cases.intake import intake_prefill
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.core import idnumber
from ejia.registry.population import population_import
from ejia.registry.services import person_id_number_reveal
from ejia.registry.tests.factories import new_id

pytestmark = pytest.mark.django_db

# Any 18-character run; is_valid() then keeps only numbers with a correct check character.
CANDIDATE = idnumber.ID_PATTERN


def plaintext_id_numbers() -> list[tuple[str, str, str]]:
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = value.decode("utf-8", "replace") if isinstance(value, (bytes, memoryview)) else str(value)
                    for match in CANDIDATE.finditer(text):
                        if idnumber.is_valid(match.group(0)):
                            found.append((table, column, idnumber.mask(match.group(0))))
    return found


def test_after_intakes_no_table_holds_a_plaintext_id_number(bob, carol, catalogue, tmp_path, caplog):
    # The population base, an intake in progress (draft), a submitted case, a reveal: all the paths.
    pop = tmp_path / "pop.csv"
    head, wife = new_id(), new_id(female=True)
    pop.write_text(
        f"id_number,name,sex,birth_date,address,hukou_number,relation\n"
        f"{head},赵一,男,1980-05-17,市中街道,H9,02\n{wife},钱二,女,1980-05-17,市中街道,H9,10\n",
        encoding="utf-8",
    )
    population_import(path=pop)
    draft_start(user=carol, channel="window", data=intake_prefill(user=carol, id_number=head))
    data = application()
    case = case_submit(actor=bob, channel="window", idempotency_key="scan", data=data)
    number = data["members"][0]["id_number"]
    # A reason that carelessly contains the number is masked by the audit log.
    person_id_number_reveal(actor=bob, person=case.applicant, reason=f"核对 {number} 的银行代发")
    assert number not in caplog.text
    assert plaintext_id_numbers() == []


def test_the_scan_would_notice_a_plaintext_number(bob):
    from ejia.accounts.models import User

    number = new_id()
    User.objects.filter(pk=bob.pk).update(display_name=number)
    assert plaintext_id_numbers() == [("accounts_user", "display_name", idnumber.mask(number))]
