"""marshmallow -> JSON Schema (draft-07), for the field types and validators contracts use.

Anything it does not know raises, so the AsyncAPI document never silently under-describes.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from marshmallow.utils import missing

from contracts.common import Base64, IPAddress, Unique

# Most specific first: the first class found in a field's MRO wins (Email before String...).
_SCALARS: dict[type[fields.Field], dict[str, Any]] = {
    fields.Email: {"type": "string", "format": "email"},
    fields.UUID: {"type": "string", "format": "uuid"},
    fields.DateTime: {"type": "string", "format": "date-time"},
    fields.Date: {"type": "string", "format": "date"},
    fields.String: {"type": "string"},
    fields.Integer: {"type": "integer"},
    fields.Float: {"type": "number"},
    fields.Boolean: {"type": "boolean"},
}


def schema_to_json_schema(schema: Schema | type[Schema], *, closed: bool = True) -> dict[str, Any]:
    """JSON Schema of an object; `closed` forbids extra properties (producer-strict)."""
    instance = schema() if isinstance(schema, type) else schema
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in instance.fields.items():
        if field.load_only and field.dump_only:
            continue
        key = field.data_key or name
        properties[key] = field_to_json_schema(field)
        if field.required:
            required.append(key)
    result: dict[str, Any] = {"type": "object", "title": type(instance).__name__}
    doc = (type(instance).__doc__ or "").strip()
    if doc:
        result["description"] = doc.splitlines()[0]
    result["properties"] = properties
    if required:
        result["required"] = required
    if closed:
        result["additionalProperties"] = False
    return result


def field_to_json_schema(field: fields.Field) -> dict[str, Any]:
    """JSON Schema of one field: its type, then its validators, then nullability."""
    result = _base(field)
    for validator in _validators(field):
        _apply_validator(result, validator)
    if field.allow_none:
        _make_nullable(result)
    if field.load_default is not missing and not callable(field.load_default):
        result["default"] = field.load_default
    description = field.metadata.get("description")
    if description:
        result["description"] = description
    data_class = field.metadata.get("data_class")
    if data_class:
        result["x-data-class"] = data_class
    if field.metadata.get("personal"):
        result["x-personal"] = True
    return result


def _base(field: fields.Field) -> dict[str, Any]:
    """The shape of a field before validators: scalar, array, object or anything."""
    if isinstance(field, fields.Nested):
        nested = schema_to_json_schema(field.schema)
        return {"type": "array", "items": nested} if field.many else nested
    if isinstance(field, fields.List):
        return {"type": "array", "items": field_to_json_schema(field.inner)}
    if isinstance(field, fields.Dict):
        values = field.value_field
        extra = field_to_json_schema(values) if values is not None else True
        return {"type": "object", "additionalProperties": extra}
    temporal = isinstance(field, fields.DateTime | fields.Date)
    if temporal and field.format not in (None, "iso"):
        raise TypeError(f"only ISO 8601 temporal fields are supported, not {field.format!r}")
    for cls in type(field).__mro__:
        if cls in _SCALARS:
            return dict(_SCALARS[cls])
    if type(field) is fields.Raw:
        return {}
    raise TypeError(f"no JSON Schema mapping for {type(field).__name__}")


def _validators(field: fields.Field) -> list[Any]:
    """A field's validators as a list (marshmallow accepts one or many)."""
    found = field.validators
    return list(found) if isinstance(found, list | tuple) else [found]


def _apply_validator(result: dict[str, Any], validator: Any) -> None:
    """Translate one marshmallow validator into JSON Schema keywords."""
    is_array = result.get("type") == "array"
    if isinstance(validator, validate.OneOf):
        result["enum"] = list(validator.choices)
    elif isinstance(validator, validate.Range):
        if validator.min is not None:
            key = "minimum" if validator.min_inclusive else "exclusiveMinimum"
            result[key] = validator.min
        if validator.max is not None:
            key = "maximum" if validator.max_inclusive else "exclusiveMaximum"
            result[key] = validator.max
    elif isinstance(validator, validate.Length):
        low, high = validator.min, validator.max
        if validator.equal is not None:
            low = high = validator.equal
        if low is not None:
            result["minItems" if is_array else "minLength"] = low
        if high is not None:
            result["maxItems" if is_array else "maxLength"] = high
    elif isinstance(validator, validate.Regexp):
        result["pattern"] = validator.regex.pattern
        if isinstance(validator, Base64):
            result["contentEncoding"] = "base64"
    elif isinstance(validator, Unique):
        result["uniqueItems"] = True
    elif isinstance(validator, validate.Email):
        result["format"] = "email"  # fields.Email adds this validator itself
    elif isinstance(validator, IPAddress):
        result["anyOf"] = [{"format": "ipv4"}, {"format": "ipv6"}]
    else:
        raise TypeError(f"no JSON Schema mapping for validator {type(validator).__name__}")


def _make_nullable(result: dict[str, Any]) -> None:
    """Allow null alongside the declared type (and in the enum, and in anyOf)."""
    declared = result.get("type")
    if isinstance(declared, str):
        result["type"] = [declared, "null"]
    if "enum" in result and None not in result["enum"]:
        result["enum"].append(None)
    if "anyOf" in result:
        result["anyOf"].append({"type": "null"})
