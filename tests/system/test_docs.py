"""The reference in docs/ says what the code does: the scenario table is the catalog's, every
environment variable the apps read has one row in the configuration table, every file or folder
the documents name exists, no machine paths."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_neutral

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
             REPO / "bench" / "README.md"]
# os.environ.get("NAME" …) and the configs' helpers (_env_bool("NAME" …), _env_emails, _setting).
# A repository path in backticks, as the documents write them (`webapp/linking/rules.py`).
NAMED_PATH = re.compile(r"`((?:webapp|idp_mock|common|tests|scripts|bench|docs|templates|static|"
                        r"translations)/[\w./-]*)[^`]*`")
READS = re.compile(r"""(?:os\.environ\.get|_env_\w+|_setting)\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def test_scenario_table_matches_the_catalog():
    check = subprocess.run([sys.executable, "scripts/scenarios_doc.py", "--check"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_every_setting_has_one_row_in_the_configuration_table():
    rows = [line for line in (REPO / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    documented = [name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])]
    assert len(documented) == len(set(documented)), "a variable has two rows"
    sources = [path for folder in ("webapp", "idp_mock", "common") for path in (REPO / folder).rglob("*.py")]
    sources += list(REPO.glob("*.py"))
    read = {name for path in sources for name in READS.findall(path.read_text(encoding="utf-8"))}
    assert read, "no environment variable found: has the configuration moved?"
    assert read - set(documented) == set()


def test_no_machine_paths_in_the_documentation():
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])/(work|tmp|home|root)/", text), document.name


def test_every_path_the_documents_name_exists():
    """The README's map of the code and the references stay true when files move."""
    checked = 0
    for document in DOCUMENTS:
        named = set(NAMED_PATH.findall(document.read_text(encoding="utf-8")))
        checked += len(named)
        # Hidden folders (bench/.work/) are made by the tools that use them.
        missing = sorted(path for path in named
                         if "/." not in path and not (REPO / path.rstrip("/.")).exists())
        assert missing == [], f"{document.relative_to(REPO)} names missing paths: {missing}"
    assert checked > 50, "hardly any path found: has the notation changed?"
