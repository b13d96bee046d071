"""The package's layers, stated once: a module imports only from its own layer and from the
layers its layer lists (every import counts, lazy ones inside functions included). The code map
(docs/contributing.md) shows the same picture; CONTRIBUTING.md says where new code goes."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the layers it may import. The package root (reinforce/__init__.py: the numeric
# pins; reinforce/seeding.py) is below all of them. analysis reads the training outputs and
# never imports the code that makes them, so editing it never retrains; agent's tuning uses
# its selection rule and solve detection, so agent sits above analysis.
LAYERS = {
    "io": set(),
    "compute": {"io"},
    "sim": {"io"},
    "analysis": {"io"},
    "algos": {"io", "sim"},
    "agent": {"io", "compute", "sim", "analysis", "algos"},
}


def layer_of(module: str) -> str | None:
    """reinforce.<layer>.<name> -> layer; None for the package root's own modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every reinforce module or package an import statement in path names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {
                f"{node.module}.{alias.name}"
                for alias in node.names
                if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()
            }
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: a relative import; name the module in full")
    return {name for name in names if name.split(".")[0] == "reinforce"}


MODULES = sorted((ROOT / "reinforce").rglob("*.py"))


def test_every_subpackage_is_a_layer():
    folders = {p.parent.name for p in MODULES if p.parent != ROOT / "reinforce"}
    assert folders == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_no_higher_layer(path):
    own = layer_of(module_name(path))
    allowed = set() if own is None else LAYERS[own] | {own}  # the root: below every layer
    wrong = sorted(
        name
        for name in imports_of(path)
        if (layer := layer_of(name)) is not None and layer not in allowed
    )
    assert wrong == [], f"{module_name(path)} ({own or 'root'}) imports {wrong}"


def test_the_check_sees_a_violation(tmp_path):
    rollout = (ROOT / "reinforce" / "sim" / "rollout.py").read_text()
    source = rollout + "\n\ndef _late():\n    from reinforce.agent.policy import StackedActor\n"
    probe = tmp_path / "rollout.py"
    probe.write_text(source)
    assert "reinforce.agent.policy" in imports_of(probe)
    assert layer_of("reinforce.agent.policy") not in LAYERS["sim"] | {"sim"}


def docs_code_map() -> dict[str, str]:
    """The code map (docs/contributing.md): layer -> the text of its lines."""
    text = (ROOT / "docs" / "contributing.md").read_text()
    block = text.split("Code: `reinforce/`", 1)[1].split("```", 2)[1]
    layers, current = {}, None
    for line in block.splitlines():
        first = line.strip().split()[0] if line.strip() else ""
        if line.startswith("  ") and not line.startswith("   ") and first.endswith("/"):
            current = first.rstrip("/")
            layers[current] = line
        elif current and line.startswith("    "):
            layers[current] += "\n" + line
        else:
            current = None
    return layers


def test_the_code_map_matches_the_folders():
    code_map = docs_code_map()
    assert set(code_map) == set(LAYERS)
    for layer, text in code_map.items():
        files = {p.name for p in (ROOT / "reinforce" / layer).glob("*.py")} - {"__init__.py"}
        assert {f for f in files if f not in text} == set(), layer
        header = text.splitlines()[0].split(":")[0]  # "  sim/   on io"
        named = set(header.split(" on ", 1)[1].replace(",", " ").split()) - {"nothing"}
        assert named == LAYERS[layer], f"the code map's {layer}/ builds on {named}"


def test_modules_named_by_string_exist():
    """A module named in a string (the forkserver's preload list, `python -m` commands) is
    not an import the checks above see; after a move it must still name a real module."""
    named = set()
    scanned = [*MODULES, *(ROOT / "stages").glob("*.py"), *(ROOT / "tests").glob("*.py")]
    for path in [p for p in scanned if p != Path(__file__).resolve()]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named |= set(re.findall(r"(?<![\w./])reinforce(?:\.\w+)+", node.value))
    documents = ["docker/entrypoint.sh", "README.md", *(ROOT / "docs").rglob("*.md")]
    for text in [(ROOT / name).read_text() for name in documents]:
        named |= set(re.findall(r"python -m (reinforce(?:\.\w+)+)", text))
    assert named, "no module named by string found: the pattern is wrong"

    def exists(name: str) -> bool:  # a module, a package, or a name in a module's file
        base = ROOT / name.replace(".", "/")
        owner = ROOT / (name.rsplit(".", 1)[0].replace(".", "/") + ".py")
        return base.with_suffix(".py").exists() or (base / "__init__.py").exists() or owner.exists()

    assert sorted(n for n in named if not exists(n)) == []
    assert not exists("reinforce.config") and exists("reinforce.io.config.load_config")
