"""The tutorials run: their marked blocks are executed in a temporary git + DVC project on
tiny params, so a command that stops working fails here rather than in a reader's shell.

Markers, HTML comments in the Markdown (invisible on the site):

- `<!-- ci: run -->` before a ```console block (each `$ ` line is a command, a trailing
  `\\` continues it; the other lines are output, not checked) or a ```bash block (run
  whole);
- `<!-- ci: merge params.yaml -->` before a ```yaml block: the block is merged into the
  project's params.yaml (mappings merged key by key), as a reader edits the file;
- `<!-- ci: expect TEXT -->` before a marked block: TEXT must appear in the output of its
  commands;
- `<!-- ci: substitute A => B -->`: every later marked block of the page runs with A
  replaced by B (to make a step small enough for a test).

The project starts as a reader's does: the pipeline's files, params.yaml (tiny here), the
results of `dvc repro` committed (a fresh clone after `dvc pull`), and examples/.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, make_project, run, tiny_params

TUTORIALS = ["docs/tutorial-first-comparison.md", "docs/algorithms.md"]
MARKER = re.compile(r"<!--\s*ci:\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Step:
    kind: str  # "console", "bash" or "merge"
    text: str
    expect: list[str] = field(default_factory=list)
    substitutions: list[tuple[str, str]] = field(default_factory=list)

    def substituted(self) -> str:
        text = self.text
        for old, new in self.substitutions:
            text = text.replace(old, new)
        return text

    def commands(self) -> list[str]:
        if self.kind == "bash":
            return [self.substituted()]
        commands, current = [], None
        for line in self.substituted().splitlines():
            if current is not None:
                current += "\n" + line
            elif line.startswith("$ "):
                current = line[2:]
            if current is not None and not current.endswith("\\"):
                commands.append(current)
                current = None
        return commands


def steps_of(path: Path) -> list[Step]:
    """The marked blocks of a page, in order, each with its expectations and the
    substitutions in force."""
    steps, substitutions, pending, expect = [], [], None, []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        for directive in MARKER.findall(line):
            verb, _, rest = directive.partition(" ")
            if verb == "substitute":
                old, arrow, new = rest.partition(" => ")
                assert arrow, f"{path}: substitute needs 'A => B': {line}"
                substitutions.append((old, new))
            elif verb == "expect":
                expect.append(rest)
            elif verb in ("run", "merge"):
                assert verb != "merge" or rest == "params.yaml", f"{path}: {line}"
                pending = verb
            else:
                raise AssertionError(f"{path}: unknown ci directive: {line}")
        fence = FENCE.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if pending:
                language = fence.group(1)
                kind = "merge" if pending == "merge" else language
                wanted = {"merge": "yaml"}.get(pending, ("console", "bash"))
                assert language in wanted, f"{path}: ci: {pending} before a {language} block"
                block = "\n".join(lines[i + 1 : end])
                steps.append(Step(kind, block, expect, list(substitutions)))
            else:
                assert not expect, f"{path}: ci: expect without ci: run (line {i + 1})"
            pending, expect = None, []
            i = end
        i += 1
    assert pending is None and not expect, f"{path}: a ci marker with no block after it"
    return steps


def merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("page", TUTORIALS)
def test_every_tutorial_marks_its_steps(page):
    """Fast: the markers parse, and each tutorial has runnable steps with a check."""
    steps = steps_of(ROOT / page)
    assert len([s for s in steps if s.kind != "merge"]) >= 2, page
    assert any(s.expect for s in steps), page
    for step in steps:
        if step.kind == "console":
            assert step.commands(), f"{page}: a console block without a `$ ` command"
        if step.kind == "merge":
            assert isinstance(yaml.safe_load(step.substituted()), dict), page


@pytest.fixture
def reader_project(tmp_path):
    """A project as a reader starts a tutorial: results computed and committed."""
    project = make_project(tmp_path / "repo", tiny_params())
    shutil.copytree(ROOT / "examples", project / "examples")
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "results"], project)
    return project


@pytest.mark.parametrize("page", TUTORIALS)
def test_the_tutorial_runs(page, reader_project):
    for step in steps_of(ROOT / page):
        if step.kind == "merge":
            params = reader_project / "params.yaml"
            extra = yaml.safe_load(step.substituted())
            text = yaml.safe_dump(merged(yaml.safe_load(params.read_text()), extra))
            params.write_text(text, encoding="utf-8")
            continue
        output = ""
        for command in step.commands():
            result = run(["bash", "-c", command], reader_project, check=False)
            output += result.stdout + result.stderr
            assert result.returncode == 0, f"{page}: `{command}` failed:\n{output}"
        for text in step.expect:
            assert text in output, f"{page}: {text!r} not in the output of {step.commands()}"
