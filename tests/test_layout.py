"""The package layout: imports inside service/ run one way (docs/architecture.md).

core <- domain <- data <- api <- server, and jobs (background work) beside api: it may use
data, domain and core, never the HTTP edge. A module may import its own package freely.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[1] / "service"

# What each package may import from the others (its own package is always allowed).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "domain": {"core"},
    "data": {"core", "domain"},
    "api": {"core", "domain", "data"},
    "jobs": {"core", "domain", "data"},
    "server": {"core", "domain", "data", "api", "jobs"},
    # The entry modules at the top: wsgi.py (gunicorn) and worker.py (the background worker).
    "": {"core", "domain", "data", "api", "jobs", "server"},
}


def _package_of(path: Path) -> str:
    parts = path.relative_to(SERVICE).parts
    return parts[0] if len(parts) > 1 else ""


def _imported_packages(path: Path) -> set[str]:
    """Return the service packages a module imports (service.<pkg>...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "service":
                names = [f"service.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "service" and len(parts) > 1:
                found.add(parts[1] if (SERVICE / parts[1]).is_dir() else "")
    return found


MODULES = sorted(SERVICE.rglob("*.py"))


def test_every_module_lives_in_a_known_package():
    packages = {_package_of(path) for path in MODULES}
    assert packages <= set(ALLOWED), f"packages without an import rule: {packages - set(ALLOWED)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SERVICE)))
def test_imports_run_one_way(path: Path):
    package = _package_of(path)
    wrong = _imported_packages(path) - ALLOWED.get(package, set()) - {package}
    assert not wrong, (
        f"service/{path.relative_to(SERVICE)} ({package or 'top'}) imports {sorted(wrong)}: "
        "see docs/architecture.md for the direction of imports"
    )


def test_the_rule_catches_an_import_against_the_direction(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text("from service.api.errors import RequestValidationError\n")
    assert _imported_packages(module) == {"api"}
    assert "api" not in ALLOWED["data"]
