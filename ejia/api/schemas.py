"""The base of the API's response schemas.

django-ninja's Schema wraps whatever it validates in a DjangoGetter, so that a model instance
can be read attribute by attribute (and `resolve_*` methods run). Our operations answer with
plain dicts; wrapped, pydantic asks the getter for every field of every row in Python (a
tenth of a millisecond for a short list; about 7× the validation itself). `OutSchema`
validates a dict as a dict, in pydantic's core, with exactly the same field checks; anything
else (a model instance) still goes through the getter.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import ModelWrapValidatorHandler, ValidationInfo, model_validator


class OutSchema(Schema):
    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(cls, values: Any, handler: ModelWrapValidatorHandler, info: ValidationInfo) -> Any:
        if type(values) is dict and not cls._ninja_resolvers:
            return handler(values)
        return handler(DjangoGetter(values, cls, info.context))
