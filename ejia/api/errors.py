"""One error shape for every API answer that is not a success:

    {"code": "stable_code", "message": "中文说明", "field": "body.amount_fen", "details": [...]}

`code` is stable (clients branch on it), `message` is a sentence for people, `field` names the
input at fault when there is one, `details` lists every problem of a validation error. The
handlers below are installed on the API (ejia.api.api): validation (ninja's 422 reshaped), auth,
refusals, not found, conflicts, rate limits; a service's ValidationError becomes a 422 too.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from ejia.api.schemas import OutSchema
from ejia.core.errors import _message

NUL_MESSAGE = "请求中含有不允许的控制字符（NUL），请删除后重试。"


class ErrorDetail(OutSchema):
    field: str = ""
    code: str
    message: str


class Error(OutSchema):
    code: str
    message: str
    field: str = ""
    details: list[ErrorDetail] = []


class ApiError(Exception):
    """Raise from a router or helper to answer with the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str = "",
        details: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, str(message), field
        self.details = details or []
        self.headers = headers or {}


# Pydantic's error types, in plain Chinese.
PYDANTIC_MESSAGES = {
    "missing": "缺少必填项",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为是或否（true/false）",
    "bool_type": "应为是或否（true/false）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_type": "应为日期（YYYY-MM-DD）",
    "uuid_parsing": "应为 UUID",
    "uuid_type": "应为 UUID",
    "string_too_long": "内容过长",
    "string_too_short": "内容过短",
    "too_long": "项数过多",
    "too_short": "项数过少",
    "greater_than_equal": "数值过小",
    "greater_than": "数值过小",
    "less_than_equal": "数值过大",
    "less_than": "数值过大",
    "literal_error": "不是允许的取值",
    "enum": "不是允许的取值",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_attributes_type": "应为对象",
    "json_invalid": "不是有效的 JSON",
    "extra_forbidden": "不认识的字段",
    "string_pattern_mismatch": "格式不正确",
    "value_error": "取值不正确",
}

# Where ninja says the input came from; the first element of `loc` ("body", "query", …).
SOURCES = {"body": "请求体", "query": "查询参数", "path": "路径参数", "header": "请求头", "form": "表单"}


def _field(loc) -> str:
    parts = [str(p) for p in loc]
    # ninja puts the view's parameter name second ("body", "payload", "amount_fen"): drop it.
    if len(parts) >= 3 and parts[0] in ("body", "form"):
        parts = [parts[0], *parts[2:]]
    return ".".join(parts)


def validation_details(errors: list[dict]) -> list[dict]:
    details = []
    for error in errors:
        kind = str(error.get("type", "invalid"))
        if kind == "value_error" and error.get("msg"):
            # A validator of ours raised ValueError with a Chinese sentence.
            text = str(error["msg"]).removeprefix("Value error, ")
        else:
            text = PYDANTIC_MESSAGES.get(kind, "取值不正确")
        details.append({"field": _field(error.get("loc", ())), "code": kind, "message": text})
    return details


# Chinese names of input fields, by the path prefix of the operations that take them
# (a router registers its own): "body.members.0.id_number" is told as "身份证号码".
FIELD_LABELS: dict[str, dict[str, str]] = {}


def labelled(path: str, details: list[dict]) -> list[dict]:
    for prefix, labels in FIELD_LABELS.items():
        if path.startswith(prefix):
            for detail in details:
                names = [p for p in detail["field"].split(".")[1:] if not p.isdigit()]
                label = labels.get(names[-1]) if names else None
                if label and not detail["message"].startswith(label):
                    detail["message"] = f"{label}{detail['message']}"
    return details


def error_body(code: str, message: str, *, field: str = "", details: list[dict] | None = None) -> dict:
    return {"code": code, "message": str(message), "field": field, "details": details or []}


def install(api) -> None:
    """Register the handlers on a NinjaAPI."""

    def respond(request, status, body, headers=None):
        response = api.create_response(request, body, status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    @api.exception_handler(ApiError)
    def api_error(request, exc: ApiError):
        body = error_body(exc.code, exc.message, field=exc.field, details=exc.details)
        return respond(request, exc.status, body, exc.headers)

    @api.exception_handler(NinjaValidationError)
    def validation_error(request, exc: NinjaValidationError):
        details = labelled(request.path, validation_details(list(exc.errors)))
        first = details[0] if details else {"field": "", "message": "请求参数有误"}
        message = f"请求参数有误：{first['field']} {first['message']}".replace("： ", "：")
        return respond(request, 422, error_body("invalid_request", message, field=first["field"], details=details))

    @api.exception_handler(DjangoValidationError)
    def service_validation_error(request, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            details = [
                {"field": name, "code": "invalid", "message": str(m)}
                for name, messages in exc.message_dict.items()
                for m in messages
            ]
        else:
            details = [{"field": "", "code": "invalid", "message": str(m)} for m in exc.messages]
        first = details[0] if details else {"field": "", "message": "请求未通过校验"}
        return respond(request, 422, error_body("rejected", first["message"], field=first["field"], details=details))

    @api.exception_handler(ValueError)
    def value_error(request, exc: ValueError):
        # PostgreSQL cannot store NUL: psycopg refuses such a parameter before the query runs.
        # Any other ValueError is a defect and stays a 500.
        if "NUL" not in str(exc):
            raise exc
        return respond(request, 422, error_body("invalid_request", NUL_MESSAGE))

    @api.exception_handler(DataError)
    def data_error(request, exc: DataError):
        # The same refusal when psycopg reports it as a DataError (a NUL in a query's text
        # parameter, e.g. a client_id). Any other DataError is a defect and stays a 500.
        if "NUL" not in str(exc):
            raise exc
        return respond(request, 422, error_body("invalid_request", NUL_MESSAGE))

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        # Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) when the API reads it;
        # without this its HTML 400 page would answer a JSON API.
        message = "请求体过大（上限约2.5MB），请分批提交，或改用数据文件交换。"
        return respond(request, 400, error_body("bad_request", message))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        body = error_body(
            "unauthenticated", "缺少或无效的访问令牌，请先用客户端凭证换取令牌（Authorization: Bearer …）。"
        )
        return respond(request, 401, body, {"WWW-Authenticate": 'Bearer realm="ejia"'})

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return respond(request, 403, error_body("forbidden", _message(exc, "无权访问该接口。")))

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return respond(request, 404, error_body("not_found", _message(exc, "没有找到该对象。")))

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        codes = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        texts = {400: "无法解析请求内容，请检查 JSON 或表单格式。", 405: "该接口不支持此请求方法。"}
        status = exc.status_code
        return respond(request, status, error_body(codes.get(status, "error"), texts.get(status, "请求有误。")))
