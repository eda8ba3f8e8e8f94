"""Response schemas dumped fast: marshmallow's own rules, planned once per schema.

A page of 50 matches took marshmallow about 9 ms to dump (nested people and
breakdowns: some 2,600 fields), a third of the web tier's CPU in the load benchmark.
Most of it is marshmallow's generic work around each field: finding the value
(``Field.serialize`` -> ``utils.get_value``), and a full ``Schema.dump`` for every
nested object. :class:`FastDump` plans that work once per schema instance (which field,
under which key, from which attribute, converted how) and then runs the plan:

* values are read as ``utils.get_value`` reads them (``obj[attribute]``, else on
  KeyError and the like, or no ``[]`` at all, the attribute; a tuple's own ``[]``,
  a namedtuple row's, is not tried: it refuses every str), the field's
  ``dump_default`` standing in for a missing one, a missing one with no default left
  out, and so is a field whose ``_serialize`` returns ``missing``;
* every value is converted by the field's own ``_serialize`` (given the field's name,
  as marshmallow gives it), except where the result is known to be the same without
  the call: a ``str`` by ``String``, an ``int`` by ``Integer``, a ``float`` by
  ``Float``, a ``bool`` by ``Boolean``, a ``UUID`` by ``UUID`` (its ``str``), a
  ``datetime`` by an ISO ``DateTime``; ``List`` and ``Nested`` run their inner
  field's or schema's plan;
* pre-dump hooks (per item) run as marshmallow runs them (each item through all of
  them, then its fields, where marshmallow runs the hooks over the whole list first:
  the same output);
* ``dump(None, many=True)`` is marshmallow's (it dumps None as one object).

The decision rule, checked once per schema instance (``_make_plan``): a schema falls
back to marshmallow's own ``Schema.dump`` when

* its class overrides ``dump``, ``_serialize``, ``get_attribute``,
  ``_invoke_dump_processors`` or ``_invoke_processors``, or its ``dict_class`` is not
  ``dict``;
* it has a post-dump hook, or a pre-dump hook on the collection (``pass_collection``);
* one of its dump fields reads no attribute (``Method``, ``Function``, ``Constant``),
  reads a dotted one (``attribute="a.b"``), or overrides ``serialize`` or
  ``get_value``.

Everything else is planned: ``attribute=``, ``data_key=``, ``dump_default``,
``load_only``/``dump_only``/``only``/``exclude``/``partial`` (the plan is made from
``dump_fields`` and dropped whenever marshmallow rechooses them, see
:meth:`FastDump._init_fields`), ``Pluck``, ``Dict`` and any other field (its own
``_serialize``), recursive schemas (a nested schema is looked up at its first value,
not when planning). The dump context (marshmallow 4's ``Context``, a contextvar) is
read by the fields themselves at each dump: a plan holds no values, only fields.
``tests/api/test_fast_dump.py`` and ``test_fast_dump_cases.py`` check the output
equals marshmallow's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Convert = Callable[[Any, str, Any], Any]
#: A schema's plan: ``plan(obj, many=...)`` dumps one object.
Plan = Callable[..., dict[str, Any]]
#: (output key, field name, attribute read, field default, converter)
Step = tuple[str, str, str, Any, Convert]

_PLAN = "_mentormatch_dump_plan"
_TUPLE_GETITEM = tuple.__getitem__
_NO_PLAN = object()


class FastDump(Schema):
    """A schema whose :meth:`dump` runs a plan made once (see the module)."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        many = self.many if many is None else bool(many)
        plan = _plan_of(self)
        if plan is None or (many and obj is None):  # marshmallow dumps None as one object
            return super().dump(obj, many=many)
        if many:
            return [plan(item, many=True) for item in _items(obj)]
        return plan(obj, many=False)

    def _init_fields(self) -> None:
        """marshmallow (re)chooses the fields here, e.g. when ``Nested(instance,
        only=...)`` narrows a copy of an instance already dumped: drop the copied plan
        made for the old fields, so the next dump plans the new ones."""
        self.__dict__.pop(_PLAN, None)
        super()._init_fields()


def _items(obj: Any) -> Iterable[Any]:
    return obj if isinstance(obj, list | tuple) else list(obj)


def _plan_of(schema: Schema) -> Plan | None:
    """The schema's plan, made at its first dump; None: dump the ordinary way.

    Called at every nested dump: kept to a dict lookup (no ``typing.cast`` of a
    subscripted ``Callable``, which builds a new alias object per call)."""
    plan: Any = schema.__dict__.get(_PLAN)
    if plan is None:
        plan = _make_plan(schema) or _NO_PLAN
        schema.__dict__[_PLAN] = plan
    return None if plan is _NO_PLAN else plan


#: The methods a plan stands in for: a schema class with its own one dumps the ordinary way.
_SCHEMA_METHODS = ("_serialize", "get_attribute", "_invoke_dump_processors", "_invoke_processors")
#: The same for a field (its ``_serialize`` is always called, so it may be its own).
_FIELD_METHODS = ("serialize", "get_value")


def _make_plan(schema: Schema) -> Plan | None:
    """The plan of ``schema`` per the module's rule, or None when it falls back."""
    kind = type(schema)
    if (
        kind.dump is not FastDump.dump
        or any(getattr(kind, name) is not getattr(Schema, name) for name in _SCHEMA_METHODS)
        or schema.dict_class is not dict
        or schema._hooks[POST_DUMP]
    ):
        return None
    hooks = []
    for name, pass_collection, options in schema._hooks[PRE_DUMP]:
        if pass_collection or options.get("pass_original"):
            return None
        hooks.append(getattr(schema, name))
    steps: list[Step] = []
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        if (
            not field._CHECK_ATTRIBUTE
            or "." in attribute
            or any(getattr(type(field), m) is not getattr(fields.Field, m) for m in _FIELD_METHODS)
        ):
            return None
        key = field.data_key if field.data_key is not None else name
        steps.append((key, name, attribute, field.dump_default, _converter(field)))

    def run(obj: Any, *, many: bool) -> dict[str, Any]:
        for hook in hooks:
            obj = hook(obj, many=many)
        out: dict[str, Any] = {}
        # How utils.get_value reads: ``obj[attribute]``, else (KeyError and the like, or
        # no ``[]`` at all) the attribute. A plain dict's ``in`` says the same, faster.
        plain = type(obj) is dict
        # A tuple's ``[]`` (a namedtuple row's) refuses every str with TypeError: read
        # the attribute at once, where utils.get_value ends up after the exception.
        indexed = plain or (
            hasattr(obj, "__getitem__")
            and getattr(type(obj), "__getitem__", None) is not _TUPLE_GETITEM
        )
        for key, name, attribute, default, convert in steps:
            if plain:
                value = obj[attribute] if attribute in obj else getattr(obj, attribute, missing)
            elif indexed:
                try:
                    value = obj[attribute]
                except (KeyError, IndexError, TypeError, AttributeError):
                    value = getattr(obj, attribute, missing)
            else:
                value = getattr(obj, attribute, missing)
            if value is missing:
                value = default() if callable(default) else default
                if value is missing:
                    continue
            value = convert(value, name, obj)
            if value is not missing:  # a field may leave itself out, as in Schema._serialize
                out[key] = value
        return out

    return run


def _converter(field: Any) -> Convert:
    """How one field converts a value it read: as its ``_serialize`` does."""
    kind = type(field)
    own: Convert = field._serialize
    if kind is fields.Nested:
        return _nested(field)
    if kind is fields.List:
        inner = _converter(field.inner)  # List._serialize calls inner._serialize

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


def _nested(field: Any) -> Convert:
    """``Nested._serialize``, running the nested schema's plan when it has one.

    The nested schema is looked up at the first call, as marshmallow does, not when
    planning: a recursive schema (``Nested(lambda: Node())``, ``Nested("Node")``) is
    then planned only as deep as the data goes. The field keeps that schema from then
    on, and so does this converter; its plan is asked for at each call (a dict lookup),
    in case the schema dropped it (see :meth:`FastDump._init_fields`)."""
    own: Convert = field._serialize
    nested: list[Schema] = []  # the field's schema, once looked up

    def convert(value: Any, attr: str, obj: Any) -> Any:
        if not nested:
            nested.append(field.schema)
        schema = nested[0]
        plan = _plan_of(schema) if isinstance(schema, FastDump) else None
        if plan is None or value is None:
            return own(value, attr, obj)
        if schema.many or field.many:
            return [plan(item, many=True) for item in _items(value)]
        return plan(value, many=False)

    return convert
