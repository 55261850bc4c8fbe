"""The import layers in pyproject.toml hold: a module imports only from layers below its own.

import-linter runs in a process of its own (its console output must not outlive pytest's capture).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None, reason="pip install import-linter (the dev extra)"
)
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1]))"


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT, str(config)], capture_output=True, text=True, cwd=ROOT)


def test_the_layers_contract_holds():
    result = lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "provador's layers KEPT" in result.stdout and "0 broken" in result.stdout


def test_an_upward_import_breaks_it(tmp_path):
    """The contract would catch one: with training moved below recipes, today's imports break it."""
    config = (ROOT / "pyproject.toml").read_text()
    broken = config.replace('    "provador.training",\n', "").replace(
        '    "provador.recipes",\n', '    "provador.recipes",\n    "provador.training",\n'
    )
    assert broken != config
    (tmp_path / "pyproject.toml").write_text(broken)
    result = lint(tmp_path / "pyproject.toml")
    assert result.returncode == 1 and "BROKEN" in result.stdout
