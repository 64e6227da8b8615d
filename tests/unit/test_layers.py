"""The layers stay apart: no module of pipeline/ or api/ imports Ray or the serving layer.

(Haystack itself imports Ray when it is installed, for its own RayPipeline; that is Haystack's, not ours.)
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "capitals_qa"


def imported_modules(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer, forbidden", [
    ("pipeline", ("ray", "fastapi", "starlette", "capitals_qa.api", "capitals_qa.serving")),
    ("api", ("ray", "capitals_qa.serving", "capitals_qa.pipeline")),
])
def test_layer_does_not_import_what_it_must_not_depend_on(layer, forbidden):
    modules = sorted((PACKAGE / layer).rglob("*.py"))
    assert modules
    for module in modules:
        bad = {name for name in imported_modules(module) if name.split(".")[0] == "ray" or name.startswith(forbidden)}
        assert not bad, f"{module.relative_to(PACKAGE)} imports {sorted(bad)}"
