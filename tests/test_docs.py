"""The documentation: the site builds strictly (a broken link, a missing anchor or a page
left out of the navigation fails it, as in CI), and the README stays the front door: short,
with the test command CI runs verbatim and links that lead somewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# .ci/run runs "the README's test command, verbatim"
TEST_COMMAND = "python -m pip install -r requirements-dev.txt && python -m pytest"


def mkdocs() -> str:
    found = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if found is None:
        pytest.skip("mkdocs is not installed (it is in the dev locks)")
    return found


def test_the_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [mkdocs(), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "parameters" / "index.html").exists()


def test_every_page_is_in_the_navigation():
    import yaml

    class Loader(yaml.SafeLoader):  # mkdocs.yml may hold !!python tags; none are read here
        pass

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)

    def pages(nav) -> set[str]:
        if isinstance(nav, str):
            return {nav}
        if isinstance(nav, list):
            return set().union(*(pages(item) for item in nav))
        return set().union(*(pages(value) for value in nav.values()))

    docs = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages(config["nav"]) == docs


def test_the_readme_is_short_and_holds_the_ci_commands():
    text = README.read_text()
    assert len(text.encode()) <= 10 * 1024, f"README.md is {len(text.encode())} bytes"
    assert TEST_COMMAND in text
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()
    for command in (
        'docker run --rm -v "$PWD":/work --user "$(id -u):$(id -g)" reinforce',
        "docker run --rm reinforce verify",
        "docker run --rm reinforce pytest",
        "docker build -t reinforce .",
    ):
        assert command in text, command
    # verify's message sends a reader outside the promise to this section
    assert "## What the reproducibility promise covers" in text


def test_the_readmes_links_lead_somewhere():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local, "no relative link found: the pattern is wrong"
    assert [link for link in local if not (ROOT / link).exists()] == []
