"""A model field that stores a `Plan` through its one JSON codec: who reads the field gets the
type, who writes it gives the type; no code handles the plan's JSON by hand."""

from __future__ import annotations

from django.db import models
from django.db.models.fields.json import KeyTransform

from ejia.catalogue.plan import Plan


class PlanField(models.JSONField):
    def from_db_value(self, value, expression, connection):
        value = super().from_db_value(value, expression, connection)
        if value is None or isinstance(expression, KeyTransform):
            return value
        return Plan.from_json(value)

    def to_python(self, value):
        if value is None or isinstance(value, Plan):
            return value
        return Plan.from_json(value)

    def get_prep_value(self, value):
        if isinstance(value, Plan):
            value = value.to_json()
        return super().get_prep_value(value)

    def validate(self, value, model_instance):
        super().validate(value.to_json() if isinstance(value, Plan) else value, model_instance)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return value.to_json() if isinstance(value, Plan) else value
