"""The plot stage on tiny synthetic runs: every figure, the report, the `dvc plots` data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from reinforce.analysis import report

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_runs(
    root: Path,
    variants: dict[str, dict],
    seeds=(0, 1, 2, 3),
    episodes=60,
    one_seed: str | None = None,
    flat: str | None = None,
) -> None:
    """A tiny project: params.yaml and runs/<variant>/{train,eval} that look like learning."""
    params = {
        "env": {"id": "CartPole-v1", "solved_threshold": 150, "solve_window": 10},
        "seeds": list(seeds),
        "train": {"episodes": episodes},
        "variants": variants,
        "evaluate": {"episodes": 5},
        "report": {
            "ci": 0.95,
            "bootstrap_resamples": 300,
            "bootstrap_seed": 0,
            "smoothing_window": 5,
        },
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rng = np.random.default_rng(7)
    for k, name in enumerate(variants):
        run_seeds = [seeds[0]] if name == one_seed else list(seeds)
        curves, evals = ["seed,episode,return,length,loss"], ["seed,episode,return"]
        for seed in run_seeds:
            e = np.arange(1, episodes + 1)
            mu = 10 + 190 / (1 + np.exp(-(e - 20 - 10 * k - 3 * seed) / 5))
            noisy = np.round(mu * rng.uniform(0.8, 1, episodes))
            r = np.full(episodes, 42.0) if name == flat else noisy
            if seed == seeds[-1] and name != flat and len(run_seeds) > 1:
                r[episodes // 2 :] = 9.0  # a collapsed seed
            curves += [f"{seed},{i + 1},{v},{int(v)},0.1" for i, v in enumerate(r)]
            final = 42.0 if name == flat else float(r[-5:].mean())
            evals += [f"{seed},{i + 1},{final}" for i in range(5)]
        for sub, text in (("train/curves.csv", curves), ("eval/eval.csv", evals)):
            path = root / "runs" / name / sub
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(text) + "\n")
        (root / "runs" / name / "train" / "environment.json").write_text(
            json.dumps({"python": "3.11", "numpy": "x"}, indent=2, sort_keys=True) + "\n"
        )


def run_stages(root: Path) -> None:
    from stages import aggregate, plot

    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert aggregate.main([]) == 0
        assert plot.main([]) == 0
    finally:
        os.chdir(cwd)


def outputs(root: Path) -> dict[str, bytes]:
    paths = sorted((root / "reports").rglob("*")) + [root / "metrics.json"]
    return {str(p.relative_to(root)): p.read_bytes() for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    make_runs(
        root, {"article": {}, "value-baseline": {"baseline": "value"}, "lr-1e-3": {"lr": 0.001}}
    )
    run_stages(root)
    return root


def test_every_figure_is_written_non_empty(project):
    for name in report.FIGURES:
        png = (project / "reports/figures" / f"{name}.png").read_bytes()
        svg = (project / "reports/figures" / f"{name}.svg").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 5000, name
        assert b"<svg" in svg and len(svg) > 5000, name
        assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg, name
        assert b"Software" not in png[:2000], name
    assert sorted(p.name for p in (project / "reports/figures").iterdir()) == sorted(
        f"{n}.{ext}" for n in report.FIGURES for ext in ("png", "svg")
    )


def test_outputs_are_byte_deterministic(project, tmp_path):
    first = outputs(project)
    run_stages(project)
    assert outputs(project) == first


def test_report_markdown(project):
    text = (project / "reports/report.md").read_text()
    for expected in (
        "| value-baseline | `baseline: value` |",
        "| lr-1e-3 | `lr: 0.001` |",
        "| article | none (the defaults) |",
        "(reference)",
        "4 seeds per variant",
        '"numpy": "x"',
        "docs/report.md",
    ):
        assert expected in text
    for name in report.FIGURES:
        assert f"(figures/{name}.png)" in text
    assert "nan" not in text.lower()
    # the claims come first, a row per test of every variant against the reference
    assert text.index("## Claims") < text.index("## Variants") < text.index("## Cost")
    table = text.split("## Claims")[1].split("What the seeds establish")[0]
    assert sum(line.startswith("| lr-1e-3 |") for line in table.splitlines()) == 7
    assert "time to solve (env steps)" in table and "log-rank" in table
    full = json.loads((project / "reports/statistics.json").read_text())
    assert f"the {full['tests']['family_size']} tests of this table" in text


def test_dvc_plots_data_is_long_format_for_any_variant(project):
    lines = (project / "reports/plots/learning_curves.csv").read_text().splitlines()
    assert lines[0] == "variant,order,episode,return_iqm,ci_low,ci_high"
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows if r[2] == "1"] == ["article", "value-baseline", "lr-1e-3"]
    assert {r[2] for r in rows} >= {"1", "60"}
    final = (project / "reports/plots/final_return.csv").read_text().splitlines()
    assert final[0] == "variant,order,iqm,ci_low,ci_high" and len(final) == 4


def test_dvc_yaml_plots_point_at_what_the_plot_stage_writes(project):
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    plot_outs = [
        next(iter(o)) if isinstance(o, dict) else o for o in spec["stages"]["plot"]["outs"]
    ]
    for entry in spec["plots"]:
        path, props = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        assert (project / path).is_file(), path
        assert any(path == out or path.startswith(out + "/") for out in plot_outs), path
        template = (props or {}).get("template")
        if template and template.endswith(".json"):
            content = (REPO / template).read_text()
            assert "<DVC_METRIC_DATA>" in content and '"variant"' in content
            json.loads(content)


def test_edge_cases_plot_without_crash(tmp_path, monkeypatch):
    # A variant with fewer seeds than params.yaml cannot come from the pipeline (aggregate
    # refuses it: tests/test_safety.py); the statistics and figures still handle one seed.
    monkeypatch.setattr("reinforce.analysis.stats.check_runs", lambda *args: None)
    make_runs(
        tmp_path,
        {"article": {}, "solo": {"lr": 0.1}, "flat": {"lr": 0.2}},
        seeds=(0, 1, 2),
        episodes=8,
        one_seed="solo",
        flat="flat",
    )  # 8 < window
    run_stages(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["solo"]["iqm_low"] is None
    assert metrics["article"]["solve_rate"] == 0.0
    for name in report.FIGURES:
        assert (tmp_path / "reports/figures" / f"{name}.png").stat().st_size > 5000
    text = (tmp_path / "reports/report.md").read_text()
    assert "no CI: 1 seed" in text and "not reached" in text
    assert "seeds per variant: 3 / 1 / 3" in text


def test_colors_are_fixed_by_params_order():
    colors = report.variant_colors(["article", "value-baseline", "lr-1e-3"])
    assert colors == {
        "article": report.PALETTE[0],
        "value-baseline": report.PALETTE[1],
        "lr-1e-3": report.PALETTE[2],
    }
    many = report.variant_colors([f"v{i}" for i in range(25)])
    assert len(many) == 25


def _comparison(p_welch, p_mwu, diff=50.0, mdd=80.0, needed=30):
    """A comparison as reports/statistics.json holds it, with its Holm columns filled."""
    from reinforce.analysis import stats

    c = {
        "mean_difference": diff,
        "welch": {"t": 1.0, "p": p_welch},
        "mann_whitney": {"u": 60.0, "p": p_mwu},
        "hedges_g": {"value": 0.5, "ci_low": 0.1, "ci_high": 0.9},
        "power": {
            "pooled_sd": 100.0,
            "min_detectable_effect": 1.32,
            "min_detectable_difference": mdd,
            "observed_effect": 0.5,
            "seeds_needed": needed,
        },
    }
    stats.holm({"v": c})
    return c


def _data(comparison, seeds=10, p_improve=0.7):
    entry = {"seeds": seeds, "comparison": comparison, "p_improve": {"value": p_improve}}
    return report.ReportData(
        config=None,
        metrics={"article": {"seeds": seeds}, "v": entry},
        seeds=None,
        runs={"article": None, "v": None},
        tests={"alpha": 0.05, "power": 0.8, "family_size": 2},
    )


def test_verdict_words_follow_the_holm_corrected_tests():
    supported = report.verdict(_data(_comparison(0.001, 0.002)), "v")
    assert supported.startswith("**supported**: a higher final return than `article`")
    assert "p = 0.002" in supported and "p = 0.003" not in supported  # Holm: 0.002 x 1
    lower = report.verdict(_data(_comparison(0.001, 0.002, diff=-50.0), p_improve=0.2), "v")
    assert "a lower final return" in lower and "point different ways" not in lower
    mixed = report.verdict(_data(_comparison(0.001, 0.2, diff=-50.0), p_improve=0.9), "v")
    assert mixed.startswith("**tentative**: only Welch's t-test is significant")
    weak = report.verdict(_data(_comparison(0.3, 0.4)), "v")
    assert weak.startswith("**not established with 10 seeds**")
    assert "detect a mean difference of 80.0 or more" in weak
    assert "about 30 seeds per variant" in weak
    one = _comparison(None, 1.0, mdd=None, needed=None)
    text = report.verdict(_data(one, seeds=1), "v")
    assert text.startswith("**not established with 1 seed**")
    assert "Welch's t-test: no test (needs at least 2 seeds per variant)" in text
    none = report.verdict(_data(_comparison(None, None)), "v")
    assert none.startswith("no test possible")
    assert "every seed of both variants has the same final return" in none


def test_report_states_the_comparisons_and_power(project):
    text = (project / "reports/report.md").read_text()
    full = json.loads((project / "reports/statistics.json").read_text())
    assert "## Comparisons with article" in text and "## Power" in text
    assert f"over the {full['tests']['family_size']} p-values" in text
    comparisons = text.split("## Comparisons with article")[1].split("## Power")[0]
    verdicts = [line for line in comparisons.splitlines() if line.startswith("- `")]
    assert [line.split("`")[1] for line in verdicts] == ["value-baseline", "lr-1e-3"]
    for name in ("value-baseline", "lr-1e-3"):
        c = full["variants"][name]["comparison"]
        row = next(
            line
            for line in text.splitlines()
            if line.startswith(f"| {name} | {c['mean_difference']:+.1f} |")
        )
        assert f"{c['welch']['t']:.2f}" in row
    metrics = json.loads((project / "metrics.json").read_text())
    assert set(metrics["article"]) == {
        "iqm",
        "iqm_low",
        "iqm_high",
        "solve_rate",
        "episodes_to_solve",
        "n_seeds",
        "steps_to_solve",
    }
