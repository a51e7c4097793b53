"""Background tasks of the open API: thin wrappers over the DCI services."""

from __future__ import annotations

from django_tasks import task

BATCH = 200


@task()
def dci_search_run(transaction_pk: int) -> str:
    """Answer one accepted async search and queue its on-search callback."""
    from ejia.api.dci.transactions import search_complete

    return search_complete(transaction_pk=transaction_pk).status


@task()
def dci_deliver() -> int:
    """Post every due DCI callback; returns how many went out. When a post failed and will be
    tried again, this task is queued for that moment (where the backend can defer; the cron
    sweep `manage.py ejia_dci_deliver` covers the others)."""
    from ejia.api.dci.delivery import deliveries_send
    from ejia.api.models import DciDelivery
    from ejia.core.retry import drain

    return drain(dci_deliver, send=deliveries_send, model=DciDelivery, batch=BATCH)


@task()
def dci_notify(household_ids: list[int]) -> int:
    """Notify the partners whose subscriptions match these changed households."""
    from ejia.api.dci.subscriptions import notify_subscribers

    return notify_subscribers(household_ids=household_ids)
