"""The README's "Deployment" section names every setting, and no variable that is not one.

Its Environment table says which process reads each ``MENTORMATCH_*`` variable; the
list of variables is :class:`api.settings.Settings`' fields, so a new setting fails this
test until the table has its row. (The "Configuration" table's defaults are checked by
tests/services/test_settings.py.)
"""

from __future__ import annotations

import dataclasses
import re

from api.settings import PREFIX, Settings
from tests.conftest import REPO_ROOT


def _deployment() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    assert "\n## Deployment\n" in text, "README.md has no '## Deployment' section"
    return text.split("\n## Deployment\n", 1)[1].split("\n## ", 1)[0]


def test_the_deployment_table_has_a_row_for_every_setting() -> None:
    rows = re.findall(r"^\| `(MENTORMATCH_\w+)` \| ([^|]+) \|", _deployment(), re.MULTILINE)
    listed = [name for name, _ in rows]
    settings = [PREFIX + f.name.upper() for f in dataclasses.fields(Settings)]
    assert sorted(listed) == sorted(settings)  # each once, none missing, none extra
    assert all(read_by.strip() for _, read_by in rows)


def test_the_deployment_section_covers_what_an_operator_runs() -> None:
    section = _deployment()
    for needed in (
        "mentormatch db upgrade",
        "mentormatch purge",
        "mentormatch worker",
        "/metrics",
        "/v1/ready",
        "### Sizing",
    ):
        assert needed in section, needed
