"""The layers stay apart, as docs/development.md draws them: what each package may import.

(Haystack itself imports Ray when it is installed, for its own RayPipeline; that is Haystack's, not ours.)
"""
import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "capitals_qa"
MODEL_CODE = ("haystack", "transformers", "torch", "capitals_qa.pipeline")


def imported_modules(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules_of(place: str) -> list:
    path = PACKAGE / place
    modules = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert modules, place
    return modules


@pytest.mark.parametrize("place, forbidden", [
    ("pipeline", ("ray", "fastapi", "starlette", "capitals_qa.api", "capitals_qa.serving")),
    ("api", ("ray", "capitals_qa.serving", *MODEL_CODE)),
    # The ingress reaches model replicas through handles only; a replica never calls back.
    ("serving/ingress", ("capitals_qa.serving.replica",)),
    ("serving/replica", ("capitals_qa.serving.ingress",)),
    # Serve's proxy starts before anything else can answer: nothing heavy.
    ("serving/proxy.py", ("capitals_qa.serving.ingress", "capitals_qa.serving.replica", *MODEL_CODE)),
    ("serving/ray_internals.py", ("capitals_qa", *MODEL_CODE)),
])
def test_a_layer_does_not_import_what_it_must_not_depend_on(place, forbidden):
    for module in modules_of(place):
        bad = {name for name in imported_modules(module) if name.startswith(forbidden)}
        assert not bad, f"{module.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_routers_are_imported_by_the_app_that_mounts_them_alone():
    importers = {module.relative_to(PACKAGE).as_posix() for module in PACKAGE.rglob("*.py")
                 if any(name.startswith("capitals_qa.api.routers") for name in imported_modules(module))}
    assert importers == {"api/app.py"}
