"""Every stage lists as DVC dependencies all the library modules it imports, so that a
change of any of them reruns it."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path, seen: set[Path] | None = None) -> set[Path]:
    seen = set() if seen is None else seen
    if path in seen:
        return seen
    seen.add(path)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.split(".")[0] != "reinforce":
                continue
            candidate = ROOT / (name.replace(".", "/") + ".py")
            if candidate.exists():
                imported_modules(candidate, seen)
    seen.add(ROOT / "reinforce" / "__init__.py")
    return seen


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_depends_on_every_module_it_imports(name):
    stage = STAGES[name].get("do", STAGES[name])
    script = ROOT / "stages" / f"{stage['cmd'].split()[2].split('.')[1]}.py"
    needed = {str(p.relative_to(ROOT)) for p in imported_modules(script)}
    assert needed - set(stage["deps"]) == set()
