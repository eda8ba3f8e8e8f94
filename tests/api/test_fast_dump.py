"""The fast dump (api/schemas/fast_dump.py) gives exactly marshmallow's output.

Two ways: every response schema of the API on generated objects, odd values included
(a str where a UUID is declared, ints for floats, naive datetimes, tuples, objects
with attributes instead of dicts, missing attributes); and the API's own answers for
a program with people, an erased one, a run, matches and outcomes, read with and
without the fast dump.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
import random
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import Schema, fields
from marshmallow.decorators import PRE_DUMP

import api.schemas
from api.schemas import fast_dump
from api.schemas.fast_dump import FastDump
from tests.api.test_matches import _scenario
from tests.factories import Tenant, make_participant


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every schema dumps the ordinary marshmallow way."""
    monkeypatch.setattr(fast_dump, "_plan_of", lambda _schema: None)


def _hooked(schema: Schema) -> bool:
    """Whether ``schema`` or one it nests has a pre-dump hook (it reads real rows:
    the API test covers those)."""
    if schema._hooks[PRE_DUMP]:
        return True
    nested = [f.inner if isinstance(f, fields.List) else f for f in schema.dump_fields.values()]
    return any(_hooked(f.schema) for f in nested if isinstance(f, fields.Nested))


def _response_schemas() -> list[type[Schema]]:
    found: dict[str, type[Schema]] = {}
    for module in pkgutil.iter_modules(api.schemas.__path__):
        loaded = importlib.import_module(f"api.schemas.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, FastDump) and cls is not FastDump and not _hooked(cls()):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


def _value(field: Any, rng: random.Random, depth: int) -> Any:
    """A value for ``field``: usually of its type, sometimes one it converts."""
    if rng.random() < 0.15 and field.allow_none:
        return None
    kind = type(field)
    if isinstance(field, fields.Nested):
        nested = field.schema
        if nested.many or field.many:
            return [_object(nested, rng, depth + 1) for _ in range(rng.randrange(3))]
        return _object(nested, rng, depth + 1)
    if isinstance(field, fields.List):
        items = [_value(field.inner, rng, depth + 1) for _ in range(rng.randrange(4))]
        return tuple(items) if rng.random() < 0.3 else items
    if kind is fields.UUID:
        return str(uuid.uuid4()) if rng.random() < 0.3 else uuid.uuid4()
    if isinstance(field, fields.DateTime):
        moment = dt.datetime(2026, 12, 2, 3, rng.randrange(60), rng.randrange(60), 123)
        return moment if rng.random() < 0.3 else moment.replace(tzinfo=dt.UTC)
    if isinstance(field, fields.Boolean):
        return rng.choice([True, False, 1, 0])
    if isinstance(field, fields.Integer):
        return rng.choice([rng.randrange(-5, 1000), True, 7.0])
    if isinstance(field, fields.Float | fields.Number):
        return rng.choice([rng.random(), 3, 1e-9])
    if isinstance(field, fields.Dict):
        if field.value_field is not None:
            return {key: _value(field.value_field, rng, depth + 1) for key in ("a", "b", "ü")}
        return {"a": rng.randrange(9), "b": ["x", None], "ü": {"n": 1.5}}
    if isinstance(field, fields.String):
        return rng.choice(["plain", "Zoë", "", 42, "a\u00a0b"])
    return rng.choice(["raw", 1, None, {"k": [1, 2]}])


def _object(schema: Schema, rng: random.Random, depth: int = 0) -> Any:
    values = {}
    for name, field in schema.dump_fields.items():
        if rng.random() < 0.05 and not field.required:
            continue  # missing: left out (or its dump_default)
        values[field.attribute or name] = _value(field, rng, depth)
    if rng.random() < 0.4:
        return SimpleNamespace(**values)  # read by attribute, as ORM objects are
    return values


@pytest.mark.parametrize("schema_class", _response_schemas(), ids=lambda c: c.__qualname__)
def test_every_response_schema_dumps_as_marshmallow_does(
    schema_class: type[Schema], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(schema_class.__qualname__)
    objects = [_object(schema_class(), rng) for _ in range(40)]
    fast = [schema_class().dump(obj) for obj in objects]
    fast_many = schema_class(many=True).dump(objects)
    _plain(monkeypatch)
    plain = [schema_class().dump(obj) for obj in objects]
    assert fast == plain
    assert fast_many == plain
    assert [list(item) for item in fast] == [list(item) for item in plain]  # key order too


def test_the_plan_is_used_where_it_can_be() -> None:
    from api.schemas.matches import MatchSchema

    assert fast_dump._plan_of(MatchSchema()) is not None

    class Computed(FastDump):
        doubled = fields.Method("double")

        def double(self, obj: Any) -> int:
            return int(obj["n"]) * 2

    assert fast_dump._plan_of(Computed()) is None  # a computed field: marshmallow's way
    assert Computed().dump({"n": 2}) == {"doubled": 4}


def test_the_api_answers_the_same_with_and_without_the_fast_dump(
    app: Any, client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _scenario(app, tenant, pairs=3, spare_mentors=1)
    h = tenant.headers
    base = f"/v1/programs/{s.program.id}"
    first = s.matches[0].id
    assert client.post(f"{base}/runs/{s.run.id}/publish", json={}, headers=h).status_code == 200
    outcome = {"meetings": 3, "messages": 12, "mentor_rating": 4}
    assert client.post(f"/v1/matches/{first}/outcomes", json=outcome, headers=h).status_code == 201
    with app.extensions["mentormatch"].session_factory() as session:
        gone = make_participant(session, s.program, "mentee", "gone", skills=["go"])
        session.commit()
        gone_id = gone.id
    erased = client.delete(f"{base}/participants/{gone_id}", headers=h)  # "Anonymous user"
    assert erased.status_code == 204
    paths = [
        "/v1/programs",
        base,
        f"{base}/participants?limit=50",
        f"{base}/participants/{s.matches[0].mentee_id}",
        f"{base}/participants/{gone_id}",
        f"{base}/matches?limit=50",
        f"{base}/runs/{s.run.id}/matches",
        f"/v1/matches/{first}",
        f"/v1/matches/{first}/outcomes",
        f"{base}/runs",
        f"{base}/runs/{s.run.id}",
        "/v1/admins",
    ]
    fast = {path: client.get(path, headers=h) for path in paths}
    _plain(monkeypatch)
    for path in paths:
        plain = client.get(path, headers=h)
        assert fast[path].status_code == plain.status_code == 200, (path, plain.json)
        assert fast[path].get_data() == plain.get_data(), path
