"""The HTML report: parses, embeds every chart, and the CLI writes it."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from typing import Any

import pytest

from api.services import reports
from api.services.report_html import render_html
from tests.factories import past_outcomes
from tests.services.test_reports import cohort  # noqa: F401 -- the fixture


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.headings: list[str] = []
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        if self._tag in ("h1", "h2", "h3") and data.strip():
            self.headings.append(data.strip())


def charts(text: str) -> Images:
    parser = Images()
    parser.feed(text)
    parser.close()
    for src in parser.sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    return parser


def test_html_embeds_every_chart_and_says_the_sentence(session, cohort) -> None:  # noqa: F811
    actor, program, _ = cohort
    text = render_html(reports.program_report(session, actor, program.id))
    parsed = charts(text)
    assert len(parsed.sources) == 3  # histogram, mentor load, optimal vs greedy vs random
    assert "Quality against baselines" in parsed.headings
    assert "Mentee load" in parsed.headings  # a table: mentees by their number of mentors
    assert "<th>mentors per mentee</th><th>mentees</th>" in text
    assert "60% more in total than greedy" in text
    assert "No outcomes recorded yet." in text
    assert "http" not in text.replace("http-equiv", "")  # offline: nothing fetched

    past_outcomes(session, actor, program, [[1, 1], [0, 0]], [{"meetings": 6}, {"meetings": 0}])
    with_outcomes = render_html(reports.program_report(session, actor, program.id))
    assert len(charts(with_outcomes).sources) == 4  # and success by score decile


def test_the_cli_prints_the_summary_and_writes_the_html(
    session,
    session_factory,
    cohort,  # noqa: F811
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    from click.testing import CliRunner

    from api.cli import main

    _, program, _ = cohort
    program_id = program.id
    session.close()  # the command reads in its own session
    session_factory.kw["bind"].dispose()  # SQLite: no pooled connection of the run's worker
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--program", str(program_id), "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert "matched 2 of 2 mentees" in result.output
    assert "60% more in total than greedy" in result.output
    assert len(charts(out.read_text(encoding="utf-8")).sources) == 3
    missing = CliRunner().invoke(
        main, ["report", "--program", "00000000-0000-0000-0000-000000000000"]
    )
    assert missing.exit_code == 1
