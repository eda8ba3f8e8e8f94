"""A run's proposals downloaded as CSV or xlsx: every pair, the unmatched, escaped cells."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import openpyxl
import pytest

from api.services import run_downloads
from api.services.context import Actor
from models import Match, Participant
from tests.factories import Scenario, Tenant, proposals

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA = '=HYPERLINK("http://evil.example","click")'
CRITERIA = ["skills (similarity)", "shared_language (similarity)"]


def _scenario(app: Any, tenant: Tenant, *, pairs: int = 3, unmatched: int = 2) -> Scenario:
    """Proposals with real breakdowns; the first mentee is named like a formula."""
    actor = Actor(tenant.organization_id, tenant.owner_id, "owner")
    with app.extensions["mentormatch"].session_factory() as s:
        scenario = proposals(s, actor, pairs=pairs, unmatched=unmatched)
        for k, match in enumerate(scenario.matches):
            row = s.get(Match, match.id)
            assert row is not None
            row.breakdown = [
                {
                    "criterion": "skills",
                    "weight": 1.0,
                    "similarity": k / 10,
                    "contribution": k / 10,
                },
                {
                    "criterion": "shared_language",
                    "weight": 0.0,
                    "similarity": 1.0,
                    "contribution": 0,
                },
            ]
            row.reasons = ["-1 shared skill", "both speak en"]
        first = s.get(Participant, scenario.mentees[0].id)
        assert first is not None
        first.name = FORMULA
        s.commit()
    return scenario


def _url(s: Scenario, query: str = "") -> str:
    return f"/v1/programs/{s.program.id}/runs/{s.run.id}/matches{query}"


def _csv_rows(answer: Any) -> list[dict[str, str]]:
    data = answer.get_data()
    assert data.startswith("\ufeff".encode()), "a BOM, so that Excel reads UTF-8"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_holds_every_proposal_then_the_unmatched(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant)
    answer = client.get(_url(s, "?format=csv&limit=1"), headers=tenant.headers)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert f"run-{s.run.id}-matches.csv" in answer.headers["Content-Disposition"]
    rows = _csv_rows(answer)
    assert list(rows[0]) == [
        "mentee_name",
        "mentee_external_id",
        "mentor_name",
        "mentor_external_id",
        "score",
        *CRITERIA,
        "reasons",
        "status",
        "match_id",
    ]
    pairs = [r for r in rows if r["status"] != "unmatched"]
    assert {r["match_id"] for r in pairs} == {str(m.id) for m in s.matches}  # limit ignored
    assert [r["mentee_external_id"] for r in pairs] == ["e0", "e1", "e2"]
    assert [r["mentor_external_id"] for r in pairs] == ["m0", "m1", "m2"]
    assert [float(r["skills (similarity)"]) for r in pairs] == [0.0, 0.1, 0.2]
    assert pairs[1]["score"] == "0.5"
    assert pairs[1]["status"] == "proposed"
    assert pairs[0]["mentee_name"] == "'" + FORMULA  # escaped, not a formula
    assert pairs[0]["reasons"] == "'-1 shared skill; both speak en"
    left = rows[len(pairs) :]
    assert [r["status"] for r in left] == ["unmatched", "unmatched"]  # after the pairs
    assert {r["mentee_external_id"] for r in left} == {"u0", "u1"}
    assert {r["reasons"] for r in left} == {"no_allowed_mentor"}
    assert all(r["mentor_external_id"] == r["score"] == r["match_id"] == "" for r in left)


def test_accept_text_csv_chooses_the_csv_and_json_stays_the_default(
    app: Any, client: Any, tenant: Tenant
) -> None:
    s = _scenario(app, tenant, pairs=2, unmatched=1)
    as_csv = client.get(_url(s), headers={**tenant.headers, "Accept": "text/csv"})
    assert as_csv.mimetype == "text/csv"
    assert len(_csv_rows(as_csv)) == 3
    for accept in ("*/*", "application/json", "text/html,*/*;q=0.8"):
        page = client.get(_url(s), headers={**tenant.headers, "Accept": accept})
        assert page.mimetype == "application/json", accept
        assert len(page.json["items"]) == 2
    explicit = client.get(_url(s, "?format=json"), headers={**tenant.headers, "Accept": "text/csv"})
    assert explicit.mimetype == "application/json"  # ?format= wins over Accept


def test_xlsx_has_the_proposals_and_a_sheet_of_the_unmatched(
    app: Any, client: Any, tenant: Tenant
) -> None:
    s = _scenario(app, tenant)
    answer = client.get(_url(s, "?format=xlsx"), headers=tenant.headers)
    assert answer.status_code == 200
    assert answer.mimetype == XLSX
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()))
    assert book.sheetnames == ["proposals", "unmatched"]
    sheet = book["proposals"]
    header, *rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert header[5:7] == CRITERIA
    assert {r[header.index("match_id")] for r in rows} == {str(m.id) for m in s.matches}
    assert rows[0][0] == "'" + FORMULA
    assert sheet.cell(row=2, column=1).data_type == "s"  # a string, never a formula
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert rows[2][header.index("score")] == 0.5  # numbers stay numbers
    assert rows[2][header.index("skills (similarity)")] == pytest.approx(0.2)
    unmatched = [[c.value for c in row] for row in book["unmatched"].iter_rows()]
    assert unmatched[0] == ["mentee_name", "mentee_external_id", "reason"]
    assert sorted(r[1] for r in unmatched[1:]) == ["u0", "u1"]
    assert {r[2] for r in unmatched[1:]} == {"no_allowed_mentor"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_download_refuses_a_run_above_its_row_cap(
    app: Any, client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    s = _scenario(app, tenant, pairs=2, unmatched=1)
    monkeypatch.setattr(run_downloads, "MAX_ROWS", 3)
    assert client.get(_url(s, f"?format={fmt}"), headers=tenant.headers).status_code == 200
    monkeypatch.setattr(run_downloads, "MAX_ROWS", 2)
    answer = client.get(_url(s, f"?format={fmt}"), headers=tenant.headers)
    assert answer.status_code == 422
    assert "this run has 3" in answer.json["errors"]["format"][0]


def test_a_bad_format_is_422(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=1, unmatched=0)
    answer = client.get(_url(s, "?format=pdf"), headers=tenant.headers)
    assert answer.status_code == 422
    assert answer.content_type == "application/problem+json"
    assert "format" in answer.json["errors"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_another_organizations_run_is_404_in_every_format(
    app: Any, client: Any, tenant: Tenant, other_tenant: Tenant, fmt: str
) -> None:
    s = _scenario(app, other_tenant, pairs=1, unmatched=0)
    answer = client.get(_url(s, f"?format={fmt}"), headers=tenant.headers)
    assert answer.status_code == 404
    assert str(s.matches[0].id) not in answer.get_data(as_text=True)
    missing = f"/v1/programs/{s.program.id}/runs/{uuid.uuid4()}/matches?format={fmt}"
    assert client.get(missing, headers=other_tenant.headers).status_code == 404


def test_an_erased_participant_stays_anonymous_in_the_download(
    app: Any, client: Any, tenant: Tenant
) -> None:
    s = _scenario(app, tenant, pairs=1, unmatched=0)
    mentee = s.mentees[0]
    erased = client.delete(
        f"/v1/programs/{s.program.id}/participants/{mentee.id}", headers=tenant.headers
    )
    assert erased.status_code == 204
    text = client.get(_url(s, "?format=csv"), headers=tenant.headers).get_data(as_text=True)
    assert FORMULA not in text
    # Cell by cell: "e0" may well occur inside a random uuid of the match_id column.
    cells = {cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row}
    assert "e0" not in cells
    assert "Person e0" not in text
    assert "Anonymous user" in cells
