"""Start-up is cheap: ``--help`` and the offline commands load no web or database code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api import cli_batch
from api.services import batch_output

#: The web stack and the database layer; models.vocabulary (plain enums) is allowed.
HEAVY = ("flask", "flask_smorest", "marshmallow", "werkzeug", "gunicorn", "sqlalchemy")
HEAVY += ("alembic", "psycopg", "huey", "redis")

PROBE = """
import json, sys
from click.testing import CliRunner
from api.cli import main
result = CliRunner().invoke(main, sys.argv[1:], catch_exceptions=False)
assert result.exit_code == 0, result.output
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {heavy}
    or (name.startswith("models.") and name != "models.vocabulary")
    or name in {exact}
)
print(json.dumps(heavy))
"""


#: What a match of the generated cohort (its config has a text criterion) needs none of:
#: scikit-learn and pandas (our own TF-IDF) and the scipy.optimize package (SciPy's
#: Hungarian extension is loaded alone, matcher._hungarian); a second each at start-up.
SLOW_IMPORTS = ("sklearn", "pandas")
SLOW_MODULES = ("scipy.optimize", "scipy.linalg")


def _loaded(*args: str, heavy: tuple[str, ...] = HEAVY, exact: tuple[str, ...] = ()) -> list[str]:
    code = PROBE.replace("{heavy}", repr(set(heavy))).replace("{exact}", repr(set(exact)))
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("args", [["--help"], ["match", "--help"], ["generate", "--help"]])
def test_help_loads_no_web_or_database_code(args: list[str]) -> None:
    assert _loaded(*args) == []


def test_generate_and_match_load_no_web_or_database_code(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    gen = ["generate", "--mentees", "30", "--mentors", "20", "--seed", "2", "--out", str(out)]
    assert _loaded(*gen) == []
    run = ["match", "--config", str(out / "program.json"), "--out", str(tmp_path / "m.csv")]
    run += ["--mentees", str(out / "mentees.csv"), "--mentors", str(out / "mentors.csv")]
    assert _loaded(*run) == []
    assert (tmp_path / "m.csv").exists()
    assert _loaded(*run, heavy=SLOW_IMPORTS, exact=SLOW_MODULES) == []


def test_the_cli_formats_are_the_writers() -> None:
    assert cli_batch.FORMATS == batch_output.FORMATS
