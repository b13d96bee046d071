"""End to end: the real `dvc repro` on tiny params in a temporary git repository."""

import json

import pytest

from tests.conftest import make_project, run, tiny_params, tree_bytes

OUTPUTS = ("dvc.lock", "tuning", "runs", "metrics.json", "reports")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = make_project(tmp_path_factory.mktemp("pipeline") / "repo", tiny_params())
    run(["dvc", "repro"], path)
    return path


def test_repro_writes_every_output(project):
    for variant in ("article", "value-baseline"):
        train = project / "runs" / variant / "train"
        curves = (train / "curves.csv").read_text().splitlines()
        assert curves[0] == "seed,episode,return,length,loss"
        assert len(curves) == 1 + 2 * 6
        assert sorted(p.name for p in train.glob("*.pt")) == ["policy_seed0.pt", "policy_seed1.pt"]
        eval_rows = (project / "runs" / variant / "eval" / "eval.csv").read_text().splitlines()
        assert eval_rows[0] == "seed,episode,return" and len(eval_rows) == 1 + 2 * 2
        for folder in (train, project / "runs" / variant / "eval"):
            fingerprint = json.loads((folder / "environment.json").read_text())
            assert {"python", "torch", "numpy", "gymnasium", "machine"} <= set(fingerprint)
    metrics = json.loads((project / "metrics.json").read_text())
    for variant in ("article", "value-baseline"):
        headline = metrics[variant]
        assert headline["iqm_low"] <= headline["iqm"] <= headline["iqm_high"]
        assert 0 <= headline["solve_rate"] <= 1
    statistics = json.loads((project / "reports" / "statistics.json").read_text())
    assert 0 <= statistics["variants"]["value-baseline"]["p_improve"]["value"] <= 1
    report = (project / "reports" / "report.md").read_text()
    assert "| article" in report and "| value-baseline" in report
    # the claims (reinforce/analysis): the table first, every test in one Holm family
    assert report.index("## Claims") < report.index("## Variants")
    assert "## Cost" in report and "What the seeds establish" in report
    claims = (project / "reports" / "tables" / "claims.csv").read_text().splitlines()
    assert claims[0].startswith("variant,metric,test,effect")
    assert len(claims) == 1 + 7  # value-baseline against article: 7 tests
    assert statistics["tests"]["family_size"] == sum(
        row["p"] is not None for row in statistics["claims"]
    )
    for variant in ("article", "value-baseline"):
        assert "steps_to_solve" in metrics[variant]
    for figure in (
        "learning_curves",
        "final_performance",
        "episodes_to_solve",
        "seed_grid",
        "performance_profile",
        "time_to_solve",
    ):
        for suffix in (".png", ".svg"):
            assert (project / "reports" / "figures" / (figure + suffix)).stat().st_size > 1000
        assert f"figures/{figure}.png" in report
    assert not list(project.rglob(".tmp-*"))
    assert (project / "logs" / "train-article.json").exists()


def test_repro_force_gives_the_same_bytes_and_the_same_lock(project):
    def outputs() -> dict[str, bytes]:
        # tuning/studies/: Optuna's journals, which record when each trial ran: no output
        # (git- and DVC-ignored, outside the byte promise; docs/tuning.md, "The study file")
        files = tree_bytes(project, *OUTPUTS)
        return {name: data for name, data in files.items() if "tuning/studies/" not in name}

    before = outputs()
    run(["dvc", "repro", "--force"], project)
    after = outputs()
    assert before.keys() == after.keys()
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"not byte-identical after dvc repro --force: {changed}"
    assert "up to date" in run(["dvc", "status"], project).stdout.lower()


def test_editing_one_variant_reruns_only_that_variant(project):
    params = (project / "params.yaml").read_text()
    edited = params.replace(
        "value-baseline:\n    baseline: value",
        "value-baseline:\n    baseline: value\n    entropy_coef: 0.01",
    )
    assert edited != params
    (project / "params.yaml").write_text(edited)
    try:
        dry = run(["dvc", "repro", "--dry"], project).stdout
        # --dry runs nothing, so the stages after train@value-baseline see its old
        # outputs; what matters is which training reruns.
        assert "Stage 'train@value-baseline' didn't change" not in dry, dry
        assert "Stage 'train@article' didn't change, skipping" in dry, dry
        assert "Stage 'evaluate@article' didn't change, skipping" in dry, dry
        status = run(["dvc", "status"], project).stdout
        assert "train@value-baseline" in status and "train@article" not in status
    finally:
        (project / "params.yaml").write_text(params)
