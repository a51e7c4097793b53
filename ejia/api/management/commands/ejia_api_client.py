"""Register, rotate or disable an API client (docs/api.md).

    manage.py ejia_api_client create --client-id bc-yb --name 滨城区医保业务系统 --kind department \
        --scope catalogue:read --scope department:requests --unit-division 371602 --unit-department yb
    manage.py ejia_api_client rotate --client-id bc-yb [--grace-hours 24]
    manage.py ejia_api_client disable --client-id bc-yb   (enable to undo)
    manage.py ejia_api_client list

The secret is printed once; only its hash is kept.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ejia.accounts.models import OrgUnit
from ejia.api.models import ApiClient
from ejia.api.services import client_create, client_rotate, client_set_active, client_set_callback_uri


class Command(BaseCommand):
    help = "Register, rotate or disable an API client."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "rotate", "disable", "enable", "list", "callback"])
        parser.add_argument("--client-id", default="")
        parser.add_argument("--name", default="")
        parser.add_argument("--kind", choices=ApiClient.Kind.values, default=ApiClient.Kind.DEPARTMENT)
        parser.add_argument("--scope", action="append", default=[])
        parser.add_argument("--unit-division", default="", help="division code of the client's unit")
        parser.add_argument("--unit-department", default="", help="department code of the client's unit")
        parser.add_argument("--rate-limit", type=int, default=600, help="calls per minute")
        parser.add_argument("--source", action="append", default=[], help="a data source it may push")
        parser.add_argument("--agreement-field", action="append", default=[])
        parser.add_argument("--agreement-ref", default="")
        parser.add_argument("--unmasked-ids", action="store_true", help="the agreement allows full ID numbers")
        parser.add_argument("--grace-hours", type=int, default=24)
        parser.add_argument("--callback-uri", default="", help="callback: where a partner receives DCI callbacks")

    def handle(self, *args, **opts):
        action = opts["action"]
        if action == "list":
            for client in ApiClient.objects.all():
                state = "启用" if client.is_active else "停用"
                self.stdout.write(
                    f"{client.client_id}\t{client.get_kind_display()}\t{state}\t{' '.join(client.scopes)}"
                )
            return
        if not opts["client_id"]:
            raise CommandError("请用 --client-id 指定客户端标识。")
        try:
            if action == "create":
                self._create(opts)
            elif action == "callback":
                client = client_set_callback_uri(actor=None, client_id=opts["client_id"], uri=opts["callback_uri"])
                self.stdout.write(f"{client.client_id} 的回调地址：{client.callback_uri or '（无）'}")
            elif action == "rotate":
                secret = client_rotate(actor=None, client_id=opts["client_id"], grace_hours=opts["grace_hours"])
                self.stdout.write(f"新密钥（只显示这一次）：{secret}")
                self.stdout.write(f"旧密钥在 {opts['grace_hours']} 小时内仍然有效。")
            else:
                client_set_active(actor=None, client_id=opts["client_id"], active=action == "enable")
                self.stdout.write(f"已{'启用' if action == 'enable' else '停用'} {opts['client_id']}。")
        except ValidationError as exc:
            raise CommandError("；".join(exc.messages)) from None

    def _create(self, opts):
        unit = None
        if opts["unit_division"]:
            units = OrgUnit.objects.filter(division__code=opts["unit_division"])
            if opts["unit_department"]:
                units = units.filter(department__code=opts["unit_department"])
            unit = units.first()
            if unit is None:
                raise CommandError("没有找到该单位，请检查 --unit-division 和 --unit-department。")
        client, secret = client_create(
            actor=None,
            name=opts["name"] or opts["client_id"],
            kind=opts["kind"],
            client_id=opts["client_id"],
            scopes=opts["scope"],
            unit=unit,
            rate_limit_per_minute=opts["rate_limit"],
            agreement_fields=opts["agreement_field"],
            agreement_mask_ids=not opts["unmasked_ids"],
            agreement_ref=opts["agreement_ref"],
            sources=opts["source"],
        )
        self.stdout.write(f"已登记 {client}。")
        self.stdout.write(f"client_id: {client.client_id}")
        self.stdout.write(f"client_secret（只显示这一次）：{secret}")
