"""The fast dump's latent cases (api/schemas/fast_dump.py): each one gives marshmallow's output.

Schemas the API does not have yet but may: a nested schema narrowed by ``only`` or
``exclude`` (also an instance already dumped whole), ``dump(None, many=True)``,
recursive schemas, overridden hooks and accessors, fields that compute their value or
come out missing, objects indexed by ``[]`` that are not mappings, the dump context.
Every case dumps the same objects twice, fast and then the plain marshmallow way, and
compares the results (or the exceptions).
"""

from __future__ import annotations

import collections
import contextvars
import datetime as dt
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import Schema, fields, missing, post_dump, pre_dump
from marshmallow.experimental.context import Context

from api.schemas import fast_dump
from api.schemas.fast_dump import FastDump


def _outcome(dump: Callable[[], Any]) -> Any:
    """What ``dump`` returns, with its key order; or the type of exception it raises."""
    try:
        result = dump()
    except Exception as error:  # compared below, not hidden
        return ("raised", type(error))
    return _ordered(result)


def _ordered(value: Any) -> Any:
    if isinstance(value, dict):
        return (type(value), [(key, _ordered(item)) for key, item in value.items()])
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def _same(
    make: Callable[[], Schema], obj: Any, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> Any:
    """Dump ``obj`` with a schema from ``make``, fast then plain; assert both agree."""
    schema = make()
    fast = _outcome(lambda: schema.dump(obj, **kwargs))
    again = _outcome(lambda: schema.dump(obj, **kwargs))  # the plan, once made
    with monkeypatch.context() as plain_only:
        plain_only.setattr(fast_dump, "_plan_of", lambda _schema: None)
        plain = _outcome(lambda: make().dump(obj, **kwargs))
    assert fast == plain
    assert again == plain
    return plain


class Person(FastDump):
    id = fields.UUID()
    name = fields.String()
    email = fields.String()
    born = fields.DateTime()


PEOPLE = [
    {"id": uuid.UUID(int=1), "name": "Ada", "email": "a@x", "born": dt.datetime(1815, 12, 10)},
    SimpleNamespace(id=uuid.UUID(int=2), name="Zoë", email="z@x", born=None),
]


# 1. A nested schema narrowed by only/exclude/many -------------------------------------


def _dumped_whole() -> Person:
    """A Person instance whose (full) plan is already made: Nested copies its state."""
    person = Person()
    person.dump(PEOPLE[0])
    return person


NARROWED: dict[str, Callable[[], Any]] = {
    "class only": lambda: fields.Nested(Person, only=("name",)),
    "class exclude": lambda: fields.Nested(Person, exclude=("email", "born")),
    "instance only": lambda: fields.Nested(Person(only=("id", "name"))),
    "dumped instance, field only": lambda: fields.Nested(_dumped_whole(), only=("name",)),
    "dumped instance, field exclude": lambda: fields.Nested(_dumped_whole(), exclude=("email",)),
    "dumped instance, field many": lambda: fields.Nested(_dumped_whole(), many=True),
    "dumped many instance": lambda: fields.Nested(Person(many=True, exclude=("born",))),
    "list of dumped instance, only": lambda: fields.List(
        fields.Nested(_dumped_whole(), only=("id",))
    ),
}


@pytest.mark.parametrize("make_field", NARROWED.values(), ids=list(NARROWED))
def test_a_narrowed_nested_schema_dumps_only_its_fields(
    make_field: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def make() -> Schema:
        holder: type[Schema] = type("Holder", (FastDump,), {"who": make_field()})
        return holder()

    field = make().fields["who"]
    many = isinstance(field, fields.List) or (
        isinstance(field, fields.Nested) and field.schema.many
    )
    value: Any = PEOPLE if many else PEOPLE[0]
    _same(make, {"who": value}, monkeypatch)


def test_a_dumped_instance_narrowed_again_drops_its_plan() -> None:
    person = _dumped_whole()
    person.exclude = {"email", "born"}
    person._init_fields()
    assert person.dump(PEOPLE[0]) == {"id": str(uuid.UUID(int=1)), "name": "Ada"}


# 2. many ------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [None, [], (), iter(PEOPLE), PEOPLE], ids=repr)
@pytest.mark.parametrize("where", ["argument", "instance"])
def test_many_dumps_as_marshmallow_does(
    obj: Any, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = list(obj) if isinstance(obj, collections.abc.Iterator) else obj
    if where == "argument":
        _same(Person, items, monkeypatch, many=True)
    else:
        _same(lambda: Person(many=True), items, monkeypatch)


def test_none_with_many_is_dumped_as_one_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """marshmallow dumps ``None`` with ``many=True`` as one object with nothing set."""

    class Defaults(FastDump):
        name = fields.String(dump_default="?")

    assert _same(Defaults, None, monkeypatch, many=True) == (dict, [("name", "?")])


def test_many_false_on_a_many_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    _same(lambda: Person(many=True), PEOPLE[1], monkeypatch, many=False)


# 3. Recursive schemas -------------------------------------------------------------------


class Node(FastDump):
    name = fields.String()
    children = fields.List(fields.Nested(lambda: Node()))
    parent = fields.Nested(lambda: Node(exclude=("children", "parent")), allow_none=True)
    by_name = fields.Nested("Node", only=("name",), allow_none=True)


TREE = {
    "name": "root",
    "parent": None,
    "children": [
        {"name": "a", "children": [], "parent": {"name": "root"}, "by_name": None},
        {
            "name": "b",
            "children": [{"name": "b1", "children": [], "by_name": {"name": "self"}}],
            "parent": {"name": "root", "children": ["ignored"]},
        },
    ],
}


def test_a_recursive_schema_is_planned_as_deep_as_the_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = _same(Node, TREE, monkeypatch)
    assert result[0] is dict


# 4. Overrides, computed fields, hooks -----------------------------------------------------


class UpperName(fields.String):
    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        return str(super().serialize(attr, obj, accessor, **kwargs)).upper()


class ReadsTwice(fields.String):
    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return str(super().get_value(obj, attr, accessor, default)) * 2


class MissingIfEmpty(fields.String):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:  # noqa: ARG002
        return value or missing


class NamesItsAttr(fields.String):
    """Shows the ``attr`` its ``_serialize`` is given: the field's name, not its attribute."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:  # noqa: ARG002
        return f"{attr}={value}"


class FromTheRoot(FastDump):
    name = fields.String()

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:  # noqa: ARG002
        return obj["root"][attr]


class Wrapped(FastDump):
    name = fields.String()

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        return {"wrapped": super().dump(obj, many=many)}


class OwnSerialize(FastDump):
    name = fields.String()

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:  # noqa: ARG002
        return {"always": "this"}


class Ordered(FastDump):
    dict_class = collections.OrderedDict
    name = fields.String()


class PostDump(FastDump):
    name = fields.String()

    @post_dump
    def shout(self, data: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        return {**data, "shout": True}


class PreDump(FastDump):
    name = fields.String()

    @pre_dump
    def rename(self, obj: Any, **_kw: Any) -> dict[str, Any]:
        return {"name": f"pre {obj['name']}"}


class PreDumpCollection(FastDump):
    name = fields.String()

    @pre_dump(pass_collection=True)
    def first_only(self, objs: Any, many: bool, **_kw: Any) -> Any:
        return list(objs)[:1] if many else objs


class PostDumpOriginal(FastDump):
    name = fields.String()

    @post_dump(pass_original=True)
    def both(self, data: dict[str, Any], original: Any, **_kw: Any) -> dict[str, Any]:
        return {"name": f"{data['name']}/{original['name']}"}


class Fields(FastDump):
    renamed = fields.String(attribute="name", data_key="Name")
    dotted = fields.String(attribute="inner.value")
    secret = fields.String(load_only=True)
    fallback = fields.String(dump_default="none given")
    called = fields.Integer(dump_default=lambda: 7)
    method = fields.Method("double")
    function = fields.Function(lambda obj: obj["n"] + 1)
    constant = fields.Constant("c")
    missing_method = fields.Method("nothing")
    plucked = fields.Pluck(Person, "name")
    plucked_many = fields.Pluck(Person, "id", many=True)
    people = fields.List(fields.Nested(Person, exclude=("born",)))
    mapping = fields.Dict(keys=fields.String(), values=fields.Float())
    raw_mapping = fields.Dict()
    upper = UpperName(attribute="lower")
    twice = ReadsTwice()
    empty = MissingIfEmpty()
    labelled = NamesItsAttr(attribute="label")
    labels = fields.List(NamesItsAttr(), attribute="label_list")
    flag = fields.Boolean()
    count = fields.Integer(as_string=True)

    def double(self, obj: Any) -> int:
        return int(obj["n"]) * 2

    def nothing(self, _obj: Any) -> Any:
        return missing


FIELDS_OBJECT = {
    "name": "Ada",
    "inner": {"value": "deep"},
    "secret": "s3",
    "n": 4,
    "plucked": PEOPLE[0],
    "plucked_many": PEOPLE,
    "people": PEOPLE,
    "mapping": {"a": 1, "b": 2.5},
    "raw_mapping": {"x": [1, None]},
    "empty": "",
    "lower": "ada",
    "twice": "t",
    "label": "l",
    "label_list": ["x", "y"],
    "flag": 1,
    "count": 12,
}


def _one(name: str) -> Callable[[], Schema]:
    """A schema of the single field ``name`` of :class:`Fields` (one field that falls back
    would hide the others)."""

    def make() -> Schema:
        methods = {"double": Fields.double, "nothing": Fields.nothing}
        one: type[Schema] = type(
            f"Only_{name}", (FastDump,), {name: Fields._declared_fields[name]} | methods
        )
        return one()

    return make


SCHEMAS: dict[str, tuple[Callable[[], Schema], Any]] = {
    "fields of every kind": (Fields, FIELDS_OBJECT),
    "fields, read by attribute": (Fields, SimpleNamespace(**FIELDS_OBJECT)),
    **{f"field {name}": (_one(name), FIELDS_OBJECT) for name in Fields._declared_fields},
    "field empty, not empty": (_one("empty"), {**FIELDS_OBJECT, "empty": "full"}),
    "schema: get_attribute overridden": (FromTheRoot, {"root": {"name": "r"}}),
    "schema: dump overridden": (Wrapped, {"name": "w"}),
    "schema: _serialize overridden": (OwnSerialize, {"name": "o"}),
    "schema: dict_class": (Ordered, {"name": "o"}),
    "post_dump": (PostDump, {"name": "p"}),
    "pre_dump": (PreDump, {"name": "p"}),
    "post_dump pass_original": (PostDumpOriginal, {"name": "p"}),
    "schema: dump_only, load_only, partial": (
        lambda: Person(dump_only=("id",), load_only=("email",), partial=True),
        PEOPLE[0],
    ),
}


@pytest.mark.parametrize(("make", "obj"), SCHEMAS.values(), ids=list(SCHEMAS))
@pytest.mark.parametrize("how", ["alone", "nested", "nested many", "many"])
def test_every_kind_of_schema_dumps_as_marshmallow_does(
    make: Callable[[], Schema], obj: Any, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "alone":
        _same(make, obj, monkeypatch)
    elif how == "many":
        _same(make, [obj, obj], monkeypatch, many=True)
    else:
        many = how == "nested many"

        def holder() -> Schema:
            cls: type[Schema] = type(
                "Holder", (FastDump,), {"it": fields.Nested(make(), many=many)}
            )
            return cls()

        _same(holder, {"it": [obj, obj] if many else obj}, monkeypatch)


@pytest.mark.parametrize("many", [False, True])
def test_a_pre_dump_hook_on_the_collection(many: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    _same(PreDumpCollection, [{"name": "a"}, {"name": "b"}], monkeypatch, many=many)


class Indexed:
    """Not a mapping, yet ``[]`` works: marshmallow reads by ``[]`` first, then by attribute."""

    name = "by attribute"
    email = "by attribute"

    def __getitem__(self, key: str) -> str:
        if key == "email":
            raise KeyError(key)
        return f"by [] ({key})"


class TupleWithItsOwnIndex(tuple):  # type: ignore[type-arg]
    name = "by attribute"

    def __getitem__(self, key: Any) -> Any:
        return f"by [] ({key})" if isinstance(key, str) else super().__getitem__(key)


Row = collections.namedtuple("Row", ["id", "name", "email", "born"])

READ: dict[str, Any] = {
    "not a mapping, with []": Indexed(),
    "a namedtuple: [] refuses a str": Row(uuid.UUID(int=3), "Ada", "a@x", None),
    "a tuple subclass with its own []": TupleWithItsOwnIndex(("x",)),
    "defaultdict: [] makes the value": collections.defaultdict(lambda: "made", name="Ada"),
    "counter: [] gives 0": collections.Counter(name=3),
    "a list: [] refuses a str": ["Ada"],
    "a str": "Ada",
    "a dict's own attribute": {"name": "Ada"},  # "items" etc. are not fields here
    "none": None,
}


@pytest.mark.parametrize("obj", READ.values(), ids=list(READ))
def test_values_are_read_as_marshmallow_reads_them(
    obj: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _same(Person, obj, monkeypatch)
    _same(lambda: Person(many=True), [obj], monkeypatch)


def test_a_dict_key_named_like_a_dict_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing key is then read as an attribute: a dict's bound method, as marshmallow does."""

    class Keys(FastDump):
        keys = fields.Raw()
        values = fields.String()

    _same(Keys, {"values": "v"}, monkeypatch)


# 5. Context ------------------------------------------------------------------------------

_TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="nobody")


class ContextName(fields.String):
    """A field that reads the dump context (marshmallow 4's ``Context``), at dump time."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:  # noqa: ARG002
        prefix = Context[dict[str, str]].get(default={}).get("prefix", "")
        return f"{prefix}{value}@{_TENANT.get()}"


class InContext(FastDump):
    name = ContextName()
    computed = fields.Function(lambda _obj: Context[dict[str, str]].get(default={}).get("prefix"))


def test_context_is_read_at_each_dump_not_when_planning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = InContext()
    with Context({"prefix": "a:"}):
        first = schema.dump({"name": "n"})
    with Context({"prefix": "b:"}):
        token = _TENANT.set("t2")
        try:
            second = schema.dump({"name": "n"})
            _same(InContext, {"name": "n"}, monkeypatch)
        finally:
            _TENANT.reset(token)
    assert first == {"name": "a:n@nobody", "computed": "a:"}
    assert second == {"name": "b:n@t2", "computed": "b:"}


def test_the_decision_rule() -> None:
    """Fields read from one attribute, nesting, lists and pre-dump hooks per item are
    planned; the rest falls back to marshmallow's own dump."""
    planned: list[Callable[[], Schema]]
    planned = [_one(name) for name in ("renamed", "fallback", "called", "plucked", "people")]
    planned += [_one(name) for name in ("mapping", "empty", "labelled", "labels")]
    planned += [Person, Node, PreDump, lambda: Person(only=("name",), many=True)]
    plain: list[Callable[[], Schema]]
    plain = [Fields, FromTheRoot, Wrapped, OwnSerialize, Ordered, PostDump, PostDumpOriginal]
    plain += [PreDumpCollection, InContext]
    plain += [_one(name) for name in ("dotted", "method", "function", "constant")]
    plain += [_one(name) for name in ("upper", "twice")]
    assert [make for make in planned if fast_dump._plan_of(make()) is None] == []
    assert [make for make in plain if fast_dump._plan_of(make()) is not None] == []
