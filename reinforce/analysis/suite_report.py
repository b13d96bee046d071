"""A suite study's across-env report: read every env's runs, its random policy and its
per-env claims, compute the suite's aggregates (suite.py), and write <root>/reports/suite.md,
<root>/reports/suite.json, <root>/reports/tables/*.csv, <root>/metrics.json and the figures
<root>/reports/figures/suite_{curves,intervals,profiles}.png.

The per-env report (claims.py, report.py) is the aggregate and plot stages run on each
env's folder; this module only adds what spans envs. Same bytes for the same inputs: the
figures use report.py's style and figure_bytes, the numbers are rounded as stats does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reinforce.analysis import report, stats, suite, videos  # noqa: E402
from reinforce.analysis.claims_text import _p  # noqa: E402
from reinforce.io import paths  # noqa: E402
from reinforce.io.errors import ConfigError, DataError  # noqa: E402
from reinforce.io.inputs import read_json, read_table  # noqa: E402
from reinforce.io.outputs import EVAL_COLUMNS, atomic_directory, write_atomic  # noqa: E402

METRIC_NAMES = {"iqm": "IQM", "mean": "mean"}


@dataclass
class EnvData:
    settings: object  # id, solved_threshold, solve_window, reference_score
    runs: dict[str, stats.VariantRuns]
    random: pd.DataFrame  # seed, episode, return
    statistics: dict | None  # envs/<env>/reports/statistics.json, when the env has one

    @property
    def random_mean(self) -> float:
        """The mean over the random policy's seeds of each seed's mean return."""
        return float(self.random.groupby("seed")["return"].mean().mean())

    @property
    def reference_source(self) -> str:
        s = self.settings
        if s.solved_threshold is not None and s.reference_score == s.solved_threshold:
            return "its solved threshold"
        return "its reference_score"


@dataclass
class SuiteData:
    envs: dict[str, EnvData]  # study order
    variants: list[str]
    settings: stats.BootstrapSettings
    smoothing_window: int

    @property
    def reference(self) -> str:
        return stats.reference_variant(self.variants)

    @property
    def colors(self) -> dict[str, str]:
        return report.variant_colors(self.variants)

    def seeds(self, variant: str) -> list[int]:
        return [len(e.runs[variant].seeds) for e in self.envs.values()]

    def label(self, variant: str) -> str:
        counts = self.seeds(variant)
        n = str(counts[0]) if len(set(counts)) == 1 else "/".join(map(str, counts))
        return f"{variant} (n={n} per env)"


def suite_env_settings(config) -> dict[str, suite.EnvSettings]:
    """The suite's envs from the config's `envs` (env id -> settings; a single-env study
    is a suite of one), each with its normalization reference: its reference_score, else
    its solved threshold (the config refuses a suite env with neither)."""
    envs = getattr(config, "envs", None) or {config.env.id: config.env}
    out = {}
    for env_id, env in envs.items():
        reference = getattr(env, "reference_score", None)
        reference = env.solved_threshold if reference is None else reference
        if reference is None:
            raise ConfigError(
                f"envs.{env_id}.reference_score: got None; allowed: a number (the env has "
                "no solved threshold to normalize by)"
            )
        out[env_id] = suite.EnvSettings(
            id=env_id,
            solved_threshold=env.solved_threshold,
            solve_window=env.solve_window,
            reference_score=float(reference),
        )
    return out


def load_suite(
    root: str | Path,
    envs: Mapping[str, object],
    variants: Sequence[str],
    settings: stats.BootstrapSettings,
    smoothing_window: int,
) -> SuiteData:
    root = Path(root)
    loaded = {}
    for env_id, env in envs.items():
        base = paths.env_root(root, env_id)
        runs = stats.read_runs(base / paths.RUNS, list(variants))
        random = read_table(paths.random_path(base), EVAL_COLUMNS)
        stats_path = base / paths.STATISTICS
        statistics = read_json(stats_path) if stats_path.exists() else None
        loaded[env_id] = EnvData(env, runs, random, statistics)
    return SuiteData(loaded, list(variants), settings, smoothing_window)


# --------------------------------------------------------------------------------------
# the numbers


def run_table(data: SuiteData) -> pd.DataFrame:
    """One row per run (env, variant, seed): its score, the env's random and reference
    scores and its normalized score."""
    rows = []
    for env_id, env in data.envs.items():
        random, reference = env.random_mean, float(env.settings.reference_score)
        for name in data.variants:
            finals = env.runs[name].final_returns()
            normalized = suite.normalized_score(finals.to_numpy(), random, reference, env_id)
            for seed, score, value in zip(finals.index, finals.to_numpy(), normalized):
                rows.append(
                    {
                        "env": env_id,
                        "variant": name,
                        "seed": int(seed),
                        "final_return": float(score),
                        "random": random,
                        "reference": reference,
                        "normalized": float(value),
                    }
                )
    return pd.DataFrame(rows)


def normalized_by_env(data: SuiteData, runs: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    return {
        name: {
            env: runs.loc[(runs["variant"] == name) & (runs["env"] == env), "normalized"].to_numpy()
            for env in data.envs
        }
        for name in data.variants
    }


def env_claims(data: SuiteData) -> dict[str, list[dict] | None]:
    """Each env's own claims rows (its per-env report), None where it has none yet."""
    return {
        env_id: None if env.statistics is None else env.statistics.get("claims")
        for env_id, env in data.envs.items()
    }


def compute(data: SuiteData) -> tuple[dict, pd.DataFrame]:
    runs = run_table(data)
    statistics = suite.suite_statistics(
        normalized_by_env(data, runs), data.reference, data.settings
    )
    statistics["envs"] = {
        env_id: {
            "random_mean": env.random_mean,
            "random_seeds": int(env.random["seed"].nunique()),
            "random_episodes": int(len(env.random)),
            "reference_score": float(env.settings.reference_score),
            "reference_source": env.reference_source,
            "solved_threshold": env.settings.solved_threshold,
            "seeds": {name: len(env.runs[name].seeds) for name in data.variants},
        }
        for env_id, env in data.envs.items()
    }
    statistics["per_env_claims"] = env_claims(data)
    return statistics, runs


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def headline(statistics: dict) -> dict:
    """metrics.json: per variant a few numbers over the suite (normalized scores)."""
    out = {}
    for name, entry in statistics["aggregates"].items():
        row = {"runs": entry["runs"]}
        for estimator in suite.AGGREGATES:
            row[f"normalized_{estimator}"] = entry[estimator]["value"]
            row[f"normalized_{estimator}_ci_low"] = entry[estimator]["ci_low"]
            row[f"normalized_{estimator}_ci_high"] = entry[estimator]["ci_high"]
        if name in statistics["comparisons"]:
            row["p_improve"] = statistics["comparisons"][name]["p_improve"]["value"]
        out[name] = row
    return out


def tables(statistics: dict, runs: pd.DataFrame) -> dict[str, str]:
    aggregates = pd.DataFrame(
        [
            {"variant": name, "runs": e["runs"]}
            | {
                f"{est}{suffix}": e[est][key]
                for est in suite.AGGREGATES
                for suffix, key in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))
            }
            for name, e in statistics["aggregates"].items()
        ]
    )
    profiles = pd.DataFrame(
        [
            {"variant": name, "tau": tau, "fraction": f, "ci_low": lo, "ci_high": hi}
            for name, p in statistics["profiles"].items()
            for tau, f, lo, hi in zip(
                p["tau"],
                p["fraction"],
                p["ci_low"] if p["ci_low"] is not None else [None] * len(p["tau"]),
                p["ci_high"] if p["ci_high"] is not None else [None] * len(p["tau"]),
            )
        ]
    )
    env_rows = [
        {"env": env, "variant": row["variant"], "metric": row["metric"], "test": row["test"]}
        | {k: row.get(k) for k in ("effect", "effect_value", "p", "p_holm", "verdict")}
        for env, rows in statistics["per_env_claims"].items()
        for row in rows or []
    ]
    columns = ["env", "variant", "metric", "test", "effect", "effect_value", "p", "p_holm"]
    return {
        "runs.csv": stats.table_csv(runs),
        "aggregates.csv": stats.table_csv(aggregates),
        "claims.csv": stats.table_csv(pd.DataFrame(statistics["claims"])),
        "per_env.csv": stats.table_csv(pd.DataFrame(statistics["per_env"])),
        "per_env_claims.csv": stats.table_csv(
            pd.DataFrame(env_rows).reindex(columns=[*columns, "verdict"])
        ),
        "profiles.csv": stats.table_csv(profiles),
    }


# --------------------------------------------------------------------------------------
# figures


def _grid(n_panels: int, width: float, height: float):
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def plot_curves(data: SuiteData):
    """Per env: each variant's IQM across seeds of the smoothed training return, its CI
    band, the solved threshold (where the env has one) and the random policy's mean."""
    window, colors = data.smoothing_window, data.colors
    fig, axes = _grid(len(data.envs), 5.0, 3.4)
    for ax, (env_id, env) in zip(axes, data.envs.items()):
        for name in data.variants:
            _seeds, curves = env.runs[name].curve_matrix()
            smooth = stats.trailing_mean(curves, window)
            band = stats.iqm_band(smooth, data.settings, env_id, name)
            if band["ci_low"] is not None:
                ax.fill_between(
                    band["episode"],
                    band["ci_low"],
                    band["ci_high"],
                    color=colors[name],
                    alpha=0.2,
                    linewidth=0,
                )
            episodes = np.arange(1, smooth.shape[1] + 1)
            ax.plot(episodes, stats.iqm(smooth.T), color=colors[name], linewidth=2, label=name)
        threshold = env.settings.solved_threshold
        if threshold is not None:
            ax.axhline(threshold, color="0.4", linestyle="--", linewidth=0.9, label="solved")
        ax.axhline(env.random_mean, color="0.4", linestyle=":", linewidth=0.9, label="random")
        ax.set_title(env_id)
        ax.set_xlabel("Training episode")
        ax.set_ylabel(f"Return ({window}-episode trailing mean)")
    axes[0].legend(loc="best", fontsize=8)
    ci = f"{data.settings.ci:.0%}"
    fig.suptitle(
        f"Learning curves per env: IQM across seeds, {ci} bootstrap CI band; "
        "dashed: solved threshold, dotted: random policy",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def plot_intervals(data: SuiteData, statistics: dict):
    aggregates, comparisons = statistics["aggregates"], statistics["comparisons"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.55 * len(data.variants) + 1.9))
    for ax, est in zip(axes, suite.AGGREGATES):
        rows = [
            (
                v,
                aggregates[v][est]["value"],
                aggregates[v][est]["ci_low"],
                aggregates[v][est]["ci_high"],
            )
            for v in data.variants
        ]
        report.interval_rows(ax, data, rows, digits=2)
        ax.set_title(f"{METRIC_NAMES[est]} of normalized scores")
        ax.axvline(0, color="0.4", linestyle=":", linewidth=0.9)
        ax.axvline(1, color="0.4", linestyle="--", linewidth=0.9)
        ax.set_xlabel("Normalized score (0: random policy, 1: reference)")
    others = [v for v in data.variants if v in comparisons]
    if others:
        rows = [
            (
                v,
                comparisons[v]["p_improve"]["value"],
                comparisons[v]["p_improve"]["ci_low"],
                comparisons[v]["p_improve"]["ci_high"],
            )
            for v in others
        ]
        report.interval_rows(axes[2], data, rows, digits=2)
        axes[2].axvline(0.5, color="0.4", linestyle="--", linewidth=0.9)
        axes[2].set_xlim(-0.02, 1.02)
    axes[2].set_title(f"Average P(improve) over {data.reference}")
    axes[2].set_xlabel("P(X > Y) + P(X = Y) / 2, averaged over envs")
    ci = f"{data.settings.ci:.0%}"
    fig.suptitle(
        f"Across {len(data.envs)} envs: black, the estimate over env x seed; bar, {ci} "
        "stratified bootstrap CI (seeds resampled within each env)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def plot_profiles(data: SuiteData, statistics: dict):
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for name in data.variants:
        p = statistics["profiles"][name]
        if p["ci_low"] is not None:
            ax.fill_between(
                p["tau"],
                p["ci_low"],
                p["ci_high"],
                color=data.colors[name],
                alpha=0.13,
                linewidth=0,
                step="post",
            )
        ax.step(
            p["tau"],
            p["fraction"],
            where="post",
            color=data.colors[name],
            linewidth=2,
            label=data.label(name),
        )
    ax.axvline(0, color="0.4", linestyle=":", linewidth=0.9)
    ax.axvline(1, color="0.4", linestyle="--", linewidth=0.9)
    ax.set_ylim(-0.02, 1.02)
    tau = statistics["profiles"][data.variants[0]]["tau"]
    ax.set_xlim(tau[0], tau[-1])
    ax.set_xlabel(r"Normalized score $\tau$ (0: random policy, 1: reference)")
    ax.set_ylabel(r"Fraction of runs with score $> \tau$ (mean over envs)")
    ax.set_title(
        f"Performance profiles over {len(data.envs)} envs\nhigher and further right is "
        f"better; band: {data.settings.ci:.0%} stratified bootstrap CI",
        fontsize=10,
    )
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def render_figures(data: SuiteData, statistics: dict) -> dict[str, bytes]:
    makers = {
        "suite_curves.png": lambda: plot_curves(data),
        "suite_intervals.png": lambda: plot_intervals(data, statistics),
        "suite_profiles.png": lambda: plot_profiles(data, statistics),
    }
    out = {}
    with matplotlib.style.context("default"), matplotlib.rc_context(report.RC):
        for name in paths.SUITE_FIGURE_NAMES:
            out[name] = report.figure_bytes(makers[name]())["png"]
    return out


# --------------------------------------------------------------------------------------
# the words


def _ci(entry: dict, digits: int = 2) -> str:
    value, low, high = entry["value"], entry["ci_low"], entry["ci_high"]
    if low is None:
        return f"{value:.{digits}f} (no CI)"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _num(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def suite_markdown(data: SuiteData, statistics: dict) -> str:
    reference = data.reference
    ci = f"{data.settings.ci:.0%}"
    envs = statistics["envs"]
    lines = [
        f"# Suite report: {len(data.envs)} environments x {len(data.variants)} variants",
        "",
        "## The normalized score",
        "",
        "Every run (env, variant, seed) gets the normalized score "
        "(score - random) / (reference - random): score is the seed's mean evaluation "
        "return; random is the mean return of a uniformly random policy on that env, "
        "measured by the pipeline on its own seeds; reference is the env's reference "
        "score (its solved threshold unless params set `reference_score`). 0 is the "
        "random policy, 1 the reference; above 1 beats it. Scores of different envs "
        "become comparable only through this choice: another reference moves every "
        "aggregate.",
        "",
        "| env | random policy (mean return) | reference | solved threshold | seeds per variant |",
        "|---|---|---|---|---|",
    ]
    for env_id, e in envs.items():
        threshold = (
            'none (gymnasium gives no threshold: no "solved")'
            if e["solved_threshold"] is None
            else f"{e['solved_threshold']:g}"
        )
        counts = sorted(set(e["seeds"].values()))
        lines.append(
            f"| {env_id} | {e['random_mean']:.2f} ({e['random_seeds']} seeds, "
            f"{e['random_episodes']} episodes) | {e['reference_score']:g} "
            f"({e['reference_source']}) | {threshold} | "
            f"{'/'.join(map(str, counts))} |"
        )
    lines += [
        "",
        "## Aggregates over env x seed",
        "",
        "IQM: the 25% trimmed mean of every run's normalized score, envs pooled; mean: the "
        "mean over envs of each env's mean; average P(improve): per env the probability "
        f"that a run of the variant beats a run of `{reference}` (ties half), averaged over "
        f"envs (rliable's definitions). {ci} CIs from a stratified bootstrap of "
        f"{data.settings.resamples:,} resamples: each env's runs resampled within that env, "
        "the envs kept.",
        "",
        f"| variant | runs | IQM [CI] | mean [CI] | average P(improve) over {reference} [CI] |",
        "|---|---|---|---|---|",
    ]
    for name in data.variants:
        a = statistics["aggregates"][name]
        c = statistics["comparisons"].get(name)
        lines.append(
            f"| {name} | {a['runs']} | {_ci(a['iqm'])} | {_ci(a['mean'])} | "
            f"{_ci(c['p_improve']) if c else 'reference'} |"
        )
    lines += [
        "",
        "Figures: `reports/figures/suite_intervals.png`, `suite_profiles.png` "
        "(performance profiles: the fraction of runs above each normalized score, "
        "averaged over envs), `suite_curves.png` (learning curves per env).",
        "",
    ]
    lines += claims_markdown(data, statistics)
    lines += per_env_markdown(data, statistics)
    lines += support_markdown(data, statistics)
    finals = {
        env_id: {name: e.runs[name].final_returns().to_dict() for name in data.variants}
        for env_id, e in data.envs.items()
    }
    lines += videos.suite_videos_markdown(finals, data.variants)
    return "\n".join(lines)


def claims_markdown(data: SuiteData, statistics: dict) -> list[str]:
    rows, tests = statistics["claims"], statistics["tests"]
    if not rows:
        return []
    lines = [
        "## Claims across the suite",
        "",
        f"Each variant against `{tests['reference']}` on the normalized score: the "
        "difference in aggregate IQM and the average P(improve), each with its stratified "
        "bootstrap CI (the two variants resampled independently), tested by a stratified "
        "permutation test (variant labels shuffled within each env, never across, "
        f"{data.settings.resamples:,} relabelings; two-sided). One Holm family: the "
        f"{tests['family_size']} tests of this table. A claim is **established** when its "
        f"Holm-corrected p is below {tests['alpha']:g}.",
        "",
        "| variant | effect [CI] | test | p | Holm p | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = row["verdict"]
        if verdict.startswith("established"):
            verdict = f"**{verdict}**"
        effect = {
            "value": row["effect_value"],
            "ci_low": row["effect_ci_low"],
            "ci_high": row["effect_ci_high"],
        }
        lines.append(
            f"| {row['variant']} | {row['effect']} {_ci(effect)} | {row['test']} | "
            f"{_p(row['p'])} | {_p(row['p_holm'])} | {verdict} |"
        )
    lines += ["", "What the suite establishes:", ""]
    for name in dict.fromkeys(row["variant"] for row in rows):
        mine = [r for r in rows if r["variant"] == name]
        done = [r for r in mine if r["verdict"].startswith("established")]
        if done and len(done) == len(mine):
            words = f"**established**: {done[0]['verdict'].split(': ', 1)[1]} across the suite"
        elif done:
            words = "tentative: only " + ", ".join(r["effect"] for r in done) + " is established"
        else:
            words = "not established across the suite (which is not evidence of no difference)"
        lines.append(f"- `{name}`: {words}.")
    lines.append("")
    return lines


def per_env_markdown(data: SuiteData, statistics: dict) -> list[str]:
    reference = statistics["tests"]["reference"]
    lines = [
        "## Per environment",
        "",
        f"Per env and variant: the IQM of its normalized scores over seeds and P(improve) "
        f"over `{reference}`, with {data.settings.ci:.0%} bootstrap CIs over seeds, and the "
        "raw (uncorrected) Mann-Whitney p. The per-env claims below are each env's own "
        "report (`envs/<env>/reports/report.md`), Holm-corrected within that env.",
        "",
        "| env | variant | seeds | IQM normalized [CI] | P(improve) [CI] | Mann-Whitney p |",
        "|---|---|---|---|---|---|",
    ]
    for row in statistics["per_env"]:
        iqm = {"value": row["iqm"], "ci_low": row["iqm_ci_low"], "ci_high": row["iqm_ci_high"]}
        pi = (
            "reference"
            if row["p_improve"] is None
            else _ci(
                {
                    "value": row["p_improve"],
                    "ci_low": row["p_improve_ci_low"],
                    "ci_high": row["p_improve_ci_high"],
                }
            )
        )
        lines.append(
            f"| {row['env']} | {row['variant']} | {row['seeds']} | {_ci(iqm)} | {pi} | "
            f"{_p(row['mann_whitney_p']) if row['p_improve'] is not None else ''} |"
        )
    lines.append("")
    for env_id, rows in statistics["per_env_claims"].items():
        lines += [f"### {env_id}: its claims", ""]
        if rows is None:
            lines += [
                f"No per-env statistics (`envs/{env_id}/{paths.STATISTICS}` not found): run "
                "that env's aggregate stage; the table above is all there is for it.",
                "",
            ]
            continue
        lines += [
            "| variant | metric | test | effect | Holm p | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            value = row.get("effect_value")
            lines.append(
                f"| {row['variant']} | {row['metric']} | {row['test']} | {row.get('effect')} "
                f"{_num(value)} | {_p(row.get('p_holm'))} | {row.get('verdict')} |"
            )
        lines.append("")
    return lines


def support_markdown(data: SuiteData, statistics: dict) -> list[str]:
    counts = sorted({n for e in statistics["envs"].values() for n in e["seeds"].values()})
    resamples = data.settings.resamples
    smallest = 2 / (resamples + 1)
    reference = data.reference
    # the distinct within-env relabelings of a variant and the reference: a two-sided p
    # cannot go below 2 / their number, however many are drawn
    relabelings = {
        name: math.prod(
            math.comb(
                len(e.runs[name].seeds) + len(e.runs[reference].seeds), len(e.runs[name].seeds)
            )
            for e in data.envs.values()
        )
        for name in data.variants
        if name != reference
    }
    exact = (
        "; the distinct within-env relabelings, of which a two-sided p is at least 2 over "
        "their number: "
        + ", ".join(f"`{n}` {k:,} (p >= {min(1.0, 2 / k):.1e})" for n, k in relabelings.items())
        if relabelings
        else ""
    )
    return [
        "## What the seeds support, and what they do not",
        "",
        f"- These {len(data.envs)} envs are fixed, not a sample of environments: the CIs "
        "and tests say what other seeds would give on these envs, nothing about envs "
        "outside the suite.",
        f"- Seeds per env and variant: {'/'.join(map(str, counts))}. Every CI resamples "
        "seeds within each env, so an env with few seeds widens it little although it is "
        "poorly known: read each env's own row above before the aggregate.",
        f"- The permutation p-values are Monte-Carlo estimates over {resamples:,} "
        f"relabelings: none can be below {smallest:.1e}{exact}.",
        "- An aggregate can be carried by one env: the per-env table shows which. The IQM "
        "trims the pooled runs, so an env whose runs all sit at one extreme can be trimmed "
        "out of it; the mean keeps every env with equal weight.",
        "- Not established is not evidence of no difference; the per-env reports give the "
        "smallest difference their seeds detect.",
        "- The normalized score depends on the reference chosen for each env (table at the "
        "top); a reference close to the random policy's return magnifies that env.",
        "",
    ]


# --------------------------------------------------------------------------------------
# the stage


def suite_outputs(data: SuiteData) -> tuple[dict[str, str], dict[str, bytes]]:
    """({relative path: text}, {figure name: PNG bytes}) of the suite report."""
    statistics, runs = compute(data)
    statistics = stats.round_floats(_jsonable(statistics))
    texts = {
        paths.SUITE_STATISTICS: stats.metrics_json(statistics, paths.SUITE_STATISTICS),
        paths.SUITE_REPORT: suite_markdown(data, statistics),
        paths.METRICS: stats.metrics_json(headline(statistics), paths.METRICS),
    }
    for name, text in tables(statistics, runs).items():
        texts[f"{paths.SUITE_TABLES}/{name}"] = text
    return texts, render_figures(data, statistics)


def write_suite_report(config, root: str | Path) -> list[str]:
    """Read the suite under root (envs from config: suite_env_settings), write its report."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--root: {root} is not a folder")
    envs = suite_env_settings(config)
    if not getattr(config, "is_suite", True) and not paths.env_root(root, config.env.id).is_dir():
        # A single-env study reads as a suite of one only where its outputs are laid out as a
        # suite's (envs/<id>/ under root); the root study's are not: say so, not "dvc repro".
        raise ConfigError(
            f"--params: a single-env study (`env: {config.env.id}`), not a suite (`envs`), and "
            f"{paths.env_root(root, config.env.id)} is not there; suite_report reports a "
            "suite: --params studies/suite/params.yaml --root studies/suite"
        )
    data = load_suite(
        root,
        envs,
        list(config.variants),
        stats.BootstrapSettings.from_config(config.report),
        config.report.smoothing_window,
    )
    texts, figures = suite_outputs(data)
    with atomic_directory(root / paths.SUITE_TABLES) as tmp:
        for name, text in texts.items():
            if name.startswith(f"{paths.SUITE_TABLES}/"):
                write_atomic(tmp / Path(name).name, text)
    with atomic_directory(root / paths.SUITE_FIGURES) as tmp:
        for name, blob in figures.items():
            write_atomic(tmp / name, blob)
    for name in (paths.SUITE_STATISTICS, paths.SUITE_REPORT, paths.METRICS):
        write_atomic(root / name, texts[name])
    return sorted([*texts, *(f"{paths.SUITE_FIGURES}/{n}" for n in figures)])
