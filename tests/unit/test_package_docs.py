"""Each package's docstring lists its modules and sub-packages, one a line (`name  what it holds`, a package as
`name/`): a reader finds every module there, and a module added, moved or removed without it fails here."""
import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "capitals_qa"
PACKAGES = sorted(init.parent for init in PACKAGE.rglob("__init__.py"))
LISTED = re.compile(r"^(\w+/?) {2,}\S")


def listed(package: Path) -> set:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    return {match.group(1) for line in docstring.splitlines() if (match := LISTED.match(line))}


def present(package: Path) -> set:
    modules = {path.stem for path in package.glob("*.py") if path.name != "__init__.py"}
    packages = {f"{path.parent.name}/" for path in package.glob("*/__init__.py")}
    return modules | packages


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: str(path.relative_to(PACKAGE.parent)))
def test_the_package_docstring_lists_exactly_its_modules(package):
    assert listed(package) == present(package)


def test_every_package_is_checked():
    assert {path.name for path in PACKAGES} >= {"capitals_qa", "api", "routers", "pipeline", "serving", "ingress", "replica", "cli", "testing"}
