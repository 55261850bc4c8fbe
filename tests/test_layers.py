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
    importlib.util.find_spec("importlinter") is None,
    reason="pip install import-linter (the dev group: pip install --group dev)",
)
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1]))"


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT, str(config)], capture_output=True, text=True, cwd=ROOT)


def test_the_layers_contract_holds():
    result = lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "provador's layers KEPT" in result.stdout and "0 broken" in result.stdout


def test_an_upward_import_breaks_it(tmp_path):
    """The contract would catch one: with the work moved below the records, today's imports break it."""
    config = (ROOT / "pyproject.toml").read_text()
    broken = config.replace('    "provador.work",\n', "").replace(
        '    "provador.records",\n', '    "provador.records",\n    "provador.work",\n'
    )
    assert broken != config
    (tmp_path / "pyproject.toml").write_text(broken)
    result = lint(tmp_path / "pyproject.toml")
    assert result.returncode == 1 and "BROKEN" in result.stdout


def test_every_module_lives_in_a_layer_folder():
    """The folder tree is the architecture: beside the package's own entry points, every module
    is in one of the contract's folders, and every folder is in the contract."""
    package = ROOT / "src" / "provador"
    config = (ROOT / "pyproject.toml").read_text()
    loose = sorted(p.name for p in package.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "workflow.py"], loose
    folders = sorted(p.name for p in package.iterdir() if (p / "__init__.py").is_file())
    assert folders == ["base", "cli", "core", "records", "serve", "show", "work"]
    assert all(f'"provador.{name}"' in config for name in folders)
