"""Response schemas dumped fast: marshmallow's own rules, planned once per schema.

A page of 50 matches took marshmallow about 9 ms to dump (nested people and
breakdowns: some 2,600 fields), a third of the web tier's CPU in the load benchmark.
Most of it is marshmallow's generic work around each field: finding the value
(``Field.serialize`` -> ``utils.get_value``), and a full ``Schema.dump`` for every
nested object. :class:`FastDump` plans that work once per schema instance (which field,
under which key, from which attribute, converted how) and then runs the plan:

* values are read as ``utils.get_value`` reads them (a mapping's key, else the
  attribute), the field's ``dump_default`` standing in for a missing one, a missing
  one with no default left out;
* every value is converted by the field's own ``_serialize``, except where the result
  is known to be the same without the call: a ``str`` by ``String``, an ``int`` by
  ``Integer``, a ``float`` by ``Float``, a ``bool`` by ``Boolean``, a ``UUID`` by
  ``UUID`` (its ``str``), a ``datetime`` by an ISO ``DateTime``; ``List`` and
  ``Nested`` run their inner field's or schema's plan;
* pre-dump hooks (per item, no ``pass_original``) run as marshmallow runs them.

Anything else (a post-dump hook, a custom ``get_attribute``, a dotted attribute, a
field that computes its value) makes the schema dump the ordinary way.
``tests/api/test_fast_dump.py`` checks the output equals marshmallow's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Convert = Callable[[Any, str, Any], Any]
#: (output key, attribute read, field default, converter)
Step = tuple[str, str, Any, Convert]

_PLAN = "_mentormatch_dump_plan"
_NO_PLAN = object()


class FastDump(Schema):
    """A schema whose :meth:`dump` runs a plan made once (see the module)."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        plan = _plan_of(self)
        if plan is None:
            return super().dump(obj, many=many)
        many = self.many if many is None else bool(many)
        if many:
            return [plan(item, many=True) for item in _items(obj)]
        return plan(obj, many=False)


def _items(obj: Any) -> Iterable[Any]:
    return obj if isinstance(obj, list | tuple) else list(obj)


def _plan_of(schema: Schema) -> Callable[..., Any] | None:
    """The schema's plan, made at its first dump; None: dump the ordinary way."""
    plan = schema.__dict__.get(_PLAN)
    if plan is None:
        plan = _make_plan(schema) or _NO_PLAN
        schema.__dict__[_PLAN] = plan
    return None if plan is _NO_PLAN else cast(Callable[..., Any], plan)


def _make_plan(schema: Schema) -> Callable[..., Any] | None:
    if schema._hooks[POST_DUMP] or type(schema).get_attribute is not Schema.get_attribute:
        return None
    hooks = []
    for name, pass_collection, options in schema._hooks[PRE_DUMP]:
        if pass_collection or options.get("pass_original"):
            return None
        hooks.append(getattr(schema, name))
    steps: list[Step] = []
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        convert = _converter(field)
        if convert is None or "." in attribute or not field._CHECK_ATTRIBUTE:
            return None
        key = field.data_key if field.data_key is not None else name
        steps.append((key, attribute, field.dump_default, convert))

    def run(obj: Any, *, many: bool) -> dict[str, Any]:
        for hook in hooks:
            obj = hook(obj, many=many)
        out: dict[str, Any] = {}
        mapping = isinstance(obj, Mapping)
        for key, attribute, default, convert in steps:
            if mapping and attribute in obj:
                value = obj[attribute]
            else:  # utils.get_value's fallback: the attribute
                value = getattr(obj, attribute, missing)
            if value is missing:
                value = default() if callable(default) else default
                if value is missing:
                    continue
            out[key] = convert(value, attribute, obj)
        return out

    return run


def _converter(field: Any) -> Convert | None:
    """How one field converts a value it read; None: no plan for it."""
    kind = type(field)
    own: Convert = field._serialize
    if kind is fields.Nested:
        return _nested(field)
    if kind is fields.List:
        inner = _converter(field.inner)
        if inner is None:
            return None

        def each(value: Any, attr: str, obj: Any) -> Any:
            return None if value is None else [inner(item, attr, obj) for item in value]

        return each
    if kind is fields.UUID:
        return _unless(uuid.UUID, str, own)
    if kind is fields.String:
        return _unless(str, None, own)
    if kind in (fields.Integer, fields.Float) and not field.as_string:
        return _unless(int if kind is fields.Integer else float, None, own)
    if kind is fields.Boolean:
        return _unless(bool, None, own)
    if kind in (fields.DateTime, fields.AwareDateTime, fields.NaiveDateTime):
        return _datetime(field)
    return own  # any other field: its own conversion, always right


def _unless(exact: type, then: Callable[[Any], Any] | None, own: Convert) -> Convert:
    """A value of exactly type ``exact`` (or None) is converted by ``then`` (kept as it
    is when None), as the field would; any other goes through the field."""

    def convert(value: Any, attr: str, obj: Any) -> Any:
        if value is None:
            return None
        if type(value) is exact:
            return value if then is None else then(value)
        return own(value, attr, obj)

    return convert


def _datetime(field: Any) -> Convert:
    own = field._serialize
    iso = type(field) is fields.DateTime and (field.format or field.DEFAULT_FORMAT) == "iso"

    def convert(value: Any, attr: str, obj: Any) -> Any:
        if value is None:
            return None
        if iso and type(value) is dt.datetime:
            return value.isoformat()
        return own(value, attr, obj)

    return convert


def _nested(field: Any) -> Convert | None:
    schema = field.schema
    many = bool(schema.many or field.many)
    plan = _plan_of(schema) if isinstance(schema, FastDump) else None
    if plan is None:
        return field._serialize  # type: ignore[no-any-return]

    def convert(value: Any, _attr: str, _obj: Any) -> Any:
        if value is None:
            return None
        if many:
            return [plan(item, many=True) for item in _items(value)]
        return plan(value, many=False)

    return convert
