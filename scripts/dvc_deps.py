"""dvc.yaml's code dependencies, generated from the import graph.

Each stage depends on its script (stages/<name>.py) and on every module of the reinforce
package that the script imports, directly or through other modules, lazy imports inside
functions included, with the __init__.py of each package on the way. A stage that runs no
training code (it imports nothing of reinforce/sim, agent or compute) depends on the whole
of reinforce/analysis instead of its files, so that a new analysis module needs no edit
here. Only these entries of each deps list are rewritten; data deps (runs, tuning/...),
comments and everything else in dvc.yaml stay as they are.

    python scripts/dvc_deps.py --check   # exit 1 and name each missing or extra dep
    python scripts/dvc_deps.py --write   # rewrite dvc.yaml's code deps
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "reinforce"
TRAINING_LAYERS = ("sim", "agent", "compute")  # the code that makes the training bytes
DIRECTORY_DEPS = ("reinforce/analysis",)  # whole folders for the stages that run no training
# A variant names its algorithm, which reinforce.algos.load imports by name (no import
# statement to follow): a stage that imports reinforce.algos depends on the whole folder, so
# a new algorithm file needs no edit here, and editing any algorithm reruns its stages.
ALGORITHMS = "reinforce/algos"

# Every pipeline file; the suite's stages have wdir: the repository root, so their code
# deps are written as the root pipeline's are.
PIPELINES = ("dvc.yaml", "studies/suite/dvc.yaml")

CODE_DEP = re.compile(r"^(?P<indent>\s*)- (?P<path>(?:stages|reinforce)(?:/[\w.]+)*)\s*$")
STAGE = re.compile(r"^  (?P<name>[\w-]+):")
CMD = re.compile(r"python -m stages\.(?P<script>\w+)")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of a dotted module or package name, or None when it is not in the tree."""
    base = root / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path) -> set[str]:
    """Every module name of this package that an import in path can load."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        found |= {".".join(parts[:k]) for k in range(1, len(parts) + 1)}
    return found


def code_deps(script: Path, root: Path = ROOT) -> list[str]:
    """The stage script and every package file it imports, transitively, as dvc.yaml paths."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [f for name in imported_names(path) if (f := module_file(name, root))]
    modules = sorted(str(p.relative_to(root)) for p in seen if p != script)
    if any(m.startswith(ALGORITHMS + "/") for m in modules):
        modules = sorted({m for m in modules if not m.startswith(ALGORITHMS + "/")} | {ALGORITHMS})
    if not any(m.startswith(f"{PACKAGE}/{layer}/") for m in modules for layer in TRAINING_LAYERS):
        for folder in DIRECTORY_DEPS:
            inside = [m for m in modules if m.startswith(folder + "/")]
            if inside:
                modules = sorted((set(modules) - set(inside)) | {folder})
    return [str(script.relative_to(root))] + modules


def rewrite(text: str, root: Path = ROOT) -> tuple[str, dict[str, tuple[set, set]]]:
    """dvc.yaml's text with each stage's code deps regenerated, and per stage the deps
    added and removed."""
    lines = text.splitlines(keepends=True)
    out, changes = [], {}
    stage = script = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (match := STAGE.match(line)) and not line.startswith("   "):
            stage, script = match["name"], None
        if stage and (match := CMD.search(line)):
            script = root / "stages" / f"{match['script']}.py"
        if stage and script and line.strip().startswith("deps:"):
            out.append(line)
            i += 1
            old, data, indent = [], [], None
            while i < len(lines) and lines[i].lstrip().startswith("- "):
                if match := CODE_DEP.match(lines[i]):
                    indent = match["indent"]
                    old.append(match["path"])
                else:
                    data.append(lines[i])
                i += 1
            if indent is None:
                indent = " " * (len(line) - len(line.lstrip()) + 2)
            new = code_deps(script, root)
            changes[stage] = (set(new) - set(old), set(old) - set(new))
            out += [f"{indent}- {path}\n" for path in new] + data
            script = None
            continue
        out.append(line)
        i += 1
    return "".join(out), changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if any code dep is off")
    mode.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    parser.add_argument(
        "--file",
        type=Path,
        action="append",
        help=f"default: {', '.join(PIPELINES)} (the suite's stages run in the repository root)",
    )
    args = parser.parse_args(argv)
    failed = False
    for file in args.file or [ROOT / name for name in PIPELINES]:
        failed |= not check_or_write(file, args.write)
    return 1 if failed else 0


def check_or_write(file: Path, write: bool) -> bool:
    text = file.read_text()
    new, changes = rewrite(text)
    if write:
        if new != text:
            file.write_text(new)
        return True
    problems = [
        f"{stage}: {kind} {path}"
        for stage, (missing, extra) in sorted(changes.items())
        for kind, paths in (("missing", missing), ("extra", extra))
        for path in sorted(paths)
    ]
    if new != text and not problems:
        problems = ["the code deps are not in the generated order"]
    name = file.relative_to(ROOT) if file.is_relative_to(ROOT) else file
    for problem in problems:
        print(f"{name}: {problem} (python scripts/dvc_deps.py --write)", file=sys.stderr)
    return not problems


if __name__ == "__main__":
    sys.exit(main())
