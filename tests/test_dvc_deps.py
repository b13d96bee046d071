"""dvc.yaml's code deps are exactly what scripts/dvc_deps.py derives from the import graph:
no module a stage imports is missing (a change of it would not rerun the stage) and no
module it does not import is listed (a change of it would rerun the stage for nothing)."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import dvc_deps  # noqa: E402

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dvc_deps.py"), "--check", "--file", str(path)],
        capture_output=True,
        text=True,
    )


def test_every_stage_depends_on_exactly_the_code_it_imports():
    result = check(ROOT / "dvc.yaml")
    assert result.returncode == 0, result.stderr


def test_the_check_names_a_missing_and_an_extra_dep(tmp_path):
    text = (ROOT / "dvc.yaml").read_text()
    edited = tmp_path / "dvc.yaml"
    head, plot = text.split("\n  plot:\n", 1)
    assert "      - reinforce/io/outputs.py\n" in plot
    plot = plot.replace("      - reinforce/io/outputs.py\n", "      - reinforce/sim/envs.py\n", 1)
    edited.write_text(head + "\n  plot:\n" + plot)
    result = check(edited)
    assert result.returncode == 1
    assert "plot: missing reinforce/io/outputs.py" in result.stderr
    assert "plot: extra reinforce/sim/envs.py" in result.stderr


def test_the_generator_keeps_data_deps_and_comments():
    text = (ROOT / "dvc.yaml").read_text()
    new, _ = dvc_deps.rewrite(text)
    assert new == text
    assert "tuning/selected/${key}.json" in yaml.safe_load(new)["stages"]["train"]["do"]["deps"]


def test_a_lazy_import_counts(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("def main():\n    from reinforce.analysis.report import write_report\n")
    assert {
        "reinforce",
        "reinforce.analysis",
        "reinforce.analysis.report",
        "reinforce.analysis.report.write_report",
    } == dvc_deps.imported_names(script)


def test_editing_the_analysis_never_retrains():
    for name in ("train", "evaluate"):
        deps = STAGES[name]["do"]["deps"]
        assert not [d for d in deps if d.startswith("reinforce/analysis")], name
        assert not [d for d in deps if d.startswith("reinforce/agent/tuning")], name
