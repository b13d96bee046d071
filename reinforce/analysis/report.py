"""Figures (PNG + SVG) and the Markdown report, from reports/statistics.json,
reports/tables and runs/.

Every output is the same bytes for the same inputs: matplotlib runs with its default
style (a user's matplotlibrc cannot leak in), SVG ids are salted with a constant, and no
date or software version is written into the files' metadata.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reinforce.analysis import (  # noqa: E402
    claims_text,
    stats,  # noqa: E402
    tuning_checks,
    videos,
)
from reinforce.io import paths  # noqa: E402
from reinforce.io.config import Config, Range, changed_keys  # noqa: E402
from reinforce.io.inputs import read_json, read_table  # noqa: E402
from reinforce.io.outputs import atomic_directory, json_text, write_atomic  # noqa: E402

FIGURES = (
    "learning_curves",
    "final_performance",
    "p_improve",
    "episodes_to_solve",
    "time_to_solve",
    "seed_grid",
    "performance_profile",
    "sensitivity",
)
SOLVE_FIGURES = ("episodes_to_solve", "time_to_solve")  # none on an env without a threshold


def figure_names(config: Config) -> tuple[str, ...]:
    if config.env.solved_threshold is None:
        return tuple(name for name in FIGURES if name not in SOLVE_FIGURES)
    return FIGURES


# Vega-Lite's default "tableau10", so `dvc plots show` uses the same colors as the figures
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)
RC = {
    "svg.hashsalt": "reinforce-report",
    "svg.fonttype": "path",
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


def variant_colors(variants: Sequence[str]) -> dict[str, str]:
    """One color per variant, by its position in params.yaml; the same in every figure."""
    colors = list(PALETTE)
    if len(variants) > len(colors):
        cmap = plt.get_cmap("tab20")
        colors += [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(len(variants))]
    return {name: colors[i] for i, name in enumerate(variants)}


def figure_bytes(fig) -> dict[str, bytes]:
    """PNG and SVG of fig, rendered in memory (no dates, no software version)."""
    out = {}
    for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=metadata, bbox_inches="tight")
        out[fmt] = buffer.getvalue()
    plt.close(fig)
    return out


# --------------------------------------------------------------------------------------
# what the figures are drawn from


@dataclass
class ReportData:
    config: Config
    metrics: dict  # reports/statistics.json "variants"
    seeds: pd.DataFrame  # reports/tables/seeds.csv
    runs: dict[str, stats.VariantRuns]  # runs/<variant>, in params.yaml order
    tests: dict | None = None  # reports/statistics.json "tests"
    # tuning/selected/<variant>.json: the values each variant was trained with
    chosen: dict[str, dict] = dataclasses.field(default_factory=dict)
    # tuning/search/<variant>/results.csv, for the tuned variants
    tuning: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    # reports/statistics.json as a whole (the claims and their tests)
    statistics: dict = dataclasses.field(default_factory=dict)

    @property
    def variants(self) -> list[str]:
        return list(self.runs)

    @property
    def reference(self) -> str:
        return stats.reference_variant(self.variants)

    @property
    def colors(self) -> dict[str, str]:
        return variant_colors(self.variants)

    @property
    def settings(self) -> stats.BootstrapSettings:
        return stats.BootstrapSettings.from_config(self.config.report)

    def n_seeds(self, variant: str) -> int:
        return int(self.metrics[variant]["seeds"])

    def label(self, variant: str) -> str:
        return f"{variant} (n={self.n_seeds(variant)})"

    def seeds_phrase(self) -> str:
        """'10 seeds per variant', or 'seeds per variant: 10 / 3' when they differ."""
        counts = [self.n_seeds(v) for v in self.variants]
        if len(set(counts)) == 1:
            noun = "seed" if counts[0] == 1 else "seeds"
            each = " per variant" if len(counts) > 1 else ""
            return f"{counts[0]} {noun}{each}"
        return "seeds per variant: " + " / ".join(str(c) for c in counts)

    def eval_phrase(self) -> str:
        ev = self.config.evaluate
        return f"mean of {ev.episodes} {ev.policy} evaluation episodes per seed"


def load_report_data(config: Config, root: str | Path = ".") -> ReportData:
    root = Path(root)
    statistics = read_json(root / stats.STATISTICS_PATH)
    seeds = read_table(root / paths.TABLES / "seeds.csv", ("seed", "final_return"))
    runs = stats.read_runs(root / paths.RUNS, list(config.variants))
    metrics = statistics.get("variants", {})
    missing = [v for v in runs if v not in metrics]
    if missing:
        raise stats.DataError(
            f"{stats.STATISTICS_PATH} has no entry for {missing}; run "
            "the aggregate stage first (dvc repro)"
        )
    chosen = {name: config.selected_values(root, name) for name in runs}
    tuning = {
        name: tuning_checks.read_variant(config, name, root)
        for name in runs
        if config.search_space(name)
    }
    return ReportData(
        config=config,
        metrics=metrics,
        seeds=seeds,
        runs=runs,
        chosen=chosen,
        tuning=tuning,
        tests=statistics.get("tests", {}),
        statistics=statistics,
    )


def smoothed_curves(data: ReportData) -> dict[str, dict]:
    """Per variant: seeds, smoothed per-seed curves and the IQM band on a grid."""
    window = data.config.report.smoothing_window
    out = {}
    for name, run in data.runs.items():
        seeds, curves = run.curve_matrix()
        smooth = stats.trailing_mean(curves, window)
        band = stats.iqm_band(smooth, data.settings, name)
        out[name] = {
            "seeds": seeds,
            "smooth": smooth,
            "band": band,
            "iqm_full": stats.iqm(smooth.T),
        }
    return out


# --------------------------------------------------------------------------------------
# figures


def _grid(n_panels: int, width: float, height: float, **kwargs):
    ncols = n_panels if n_panels <= 3 else (2 if n_panels == 4 else 3)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs
    )
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def plot_learning_curves(data: ReportData, curves: dict[str, dict]):
    env, window = data.config.env, data.config.report.smoothing_window
    colors = data.colors
    fig, axes = _grid(len(data.variants) + 1, 5.0, 3.4, sharex=True, sharey=True)
    overlay, panels = axes[0], axes[1:]
    for ax in axes:
        if env.solved_threshold is not None:
            ax.axhline(env.solved_threshold, color="0.4", linestyle="--", linewidth=0.9, zorder=1)
    for name, ax in zip(data.variants, panels):
        c = curves[name]
        episodes = np.arange(1, c["smooth"].shape[1] + 1)
        for row in c["smooth"]:
            ax.plot(episodes, row, color=colors[name], linewidth=0.6, alpha=0.35)
        ax.plot(
            episodes, c["iqm_full"], color=colors[name], linewidth=2.2, label="IQM across seeds"
        )
        k = len(c["seeds"])
        ax.set_title(
            f"{name}: {k} seeds (thin) and their IQM (bold)" if k > 1 else f"{name}: 1 seed"
        )
    for name in data.variants:
        band = curves[name]["band"]
        episodes = np.arange(1, curves[name]["smooth"].shape[1] + 1)
        if band["ci_low"] is not None:
            overlay.fill_between(
                band["episode"],
                band["ci_low"],
                band["ci_high"],
                color=colors[name],
                alpha=0.2,
                linewidth=0,
            )
        overlay.plot(
            episodes,
            curves[name]["iqm_full"],
            color=colors[name],
            linewidth=2,
            label=data.label(name),
        )
    ci = f"{data.config.report.ci:.0%}"
    overlay.set_title(f"All variants: IQM across seeds, {ci} bootstrap CI band")
    if env.solved_threshold is not None:
        overlay.plot(
            [],
            [],
            color="0.4",
            linestyle="--",
            linewidth=0.9,
            label=f"solved threshold ({env.solved_threshold:g})",
        )
    overlay.legend(loc="best", fontsize=8)
    for ax in axes:
        ax.set_xlabel("Training episode")
        ax.tick_params(labelbottom=True, labelleft=True)
    ncols = len({round(ax.get_position().x0, 3) for ax in axes})
    for i, ax in enumerate(axes):
        if i % ncols == 0:
            ax.set_ylabel(f"Return ({window}-episode trailing mean)")
    fig.suptitle(f"Learning curves on {env.id}, {data.seeds_phrase()}", fontsize=12)
    fig.tight_layout()
    return fig


def interval_rows(
    ax, data, rows: list[tuple[str, float, float | None, float | None]], digits: int = 1
):
    """Horizontal CI bars with the point estimate; variants top to bottom (data: anything
    with .colors and .label, a ReportData or the suite's SuiteData)."""
    colors = data.colors
    for y, (name, value, low, high) in enumerate(rows):
        y = len(rows) - 1 - y
        if low is not None and high is not None:
            ax.barh(
                y, high - low, left=low, height=0.55, color=colors[name], alpha=0.55, linewidth=0
            )
        ax.plot([value, value], [y - 0.3, y + 0.3], color="black", linewidth=2)
        text = (
            f"{value:.{digits}f} (1 seed: no CI)"
            if low is None or high is None
            else f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
        )
        ax.annotate(
            text,
            (0.5, y + 0.3),
            xycoords=("axes fraction", "data"),
            ha="center",
            va="bottom",
            fontsize=7,
            color="0.2",
        )
    ax.set_yticks(range(len(rows)), [data.label(r[0]) for r in reversed(rows)])
    for tick, (name, *_rest) in zip(ax.get_yticklabels(), reversed(rows)):
        tick.set_color(colors[name])
    ax.set_ylim(-0.6, len(rows) - 0.25)
    ax.grid(axis="y", visible=False)


def plot_final_performance(data: ReportData):
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.55 * len(data.variants) + 1.8), sharey=True)
    titles = {"iqm": "IQM (25% trimmed mean)", "mean": "Mean", "median": "Median"}
    values = [data.metrics[v]["final_return"][e] for v in data.variants for e in stats.ESTIMATORS]
    lows = [
        data.metrics[v]["final_return"].get(f"{e}_ci_low")
        for v in data.variants
        for e in stats.ESTIMATORS
    ]
    highs = [
        data.metrics[v]["final_return"].get(f"{e}_ci_high")
        for v in data.variants
        for e in stats.ESTIMATORS
    ]
    finite = [x for x in values + lows + highs if x is not None]
    span = max(finite) - min(finite) or max(abs(max(finite)), 1.0)
    xlim = (min(finite) - 0.08 * span, max(finite) + 0.08 * span)
    for ax, est in zip(axes, stats.ESTIMATORS):
        rows = [
            (
                v,
                data.metrics[v]["final_return"][est],
                data.metrics[v]["final_return"].get(f"{est}_ci_low"),
                data.metrics[v]["final_return"].get(f"{est}_ci_high"),
            )
            for v in data.variants
        ]
        interval_rows(ax, data, rows)
        ax.set_title(titles[est])
        ax.set_xlim(*xlim)
        ax.set_xlabel("Final return")
    ci = f"{data.config.report.ci:.0%}"
    fig.suptitle(
        f"Final performance on {data.config.env.id} ({data.eval_phrase()}), "
        f"{data.seeds_phrase()}\nblack: estimate over seeds; bar: {ci} percentile "
        "bootstrap CI over seeds",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def plot_p_improve(data: ReportData):
    reference = data.reference
    others = [v for v in data.variants if v != reference]
    fig, ax = plt.subplots(figsize=(7, 0.55 * max(len(others), 1) + 1.9))
    if others:
        rows = [
            (
                v,
                data.metrics[v]["p_improve"]["value"],
                data.metrics[v]["p_improve"]["ci_low"],
                data.metrics[v]["p_improve"]["ci_high"],
            )
            for v in others
        ]
        interval_rows(ax, data, rows, digits=2)
    else:
        ax.text(
            0.5,
            0.5,
            f"only one variant ({reference}): nothing to compare",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_yticks([])
    ax.axvline(0.5, color="0.4", linestyle="--", linewidth=0.9)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"P(a seed of the variant beats a seed of {reference}), ties count half")
    ci = f"{data.config.report.ci:.0%}"
    ax.set_title(
        f"Probability of improvement over {reference} in final return, "
        f"{data.seeds_phrase()}\n0.5 (dashed) = no difference; bar: {ci} "
        "bootstrap CI",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_episodes_to_solve(data: ReportData):
    env = data.config.env
    colors = data.colors
    table = data.seeds
    horizon = int(table["episodes"].max())
    unsolved_y = horizon * 1.12
    fig, ax = plt.subplots(figsize=(max(5.0, 1.9 * len(data.variants) + 2.0), 5.0))
    for x, name in enumerate(data.variants):
        rows = table[table["variant"] == name].sort_values("seed")
        n = len(rows)
        offsets = np.linspace(-0.25, 0.25, n) if n > 1 else np.zeros(1)
        solved = rows["solved"].astype(bool).to_numpy()
        ys = rows["episodes_to_solve"].to_numpy(dtype=float)
        ax.scatter(
            x + offsets[solved],
            ys[solved],
            s=22,
            color=colors[name],
            zorder=3,
            label="solved seed" if x == 0 else None,
        )
        ax.scatter(
            x + offsets[~solved],
            np.full((~solved).sum(), unsolved_y),
            s=30,
            marker="x",
            color=colors[name],
            zorder=3,
            label="not solved" if x == 0 else None,
        )
        med = data.metrics[name]["episodes_to_solve"]["median"]
        if med is not None:
            ax.plot(
                [x - 0.33, x + 0.33],
                [med, med],
                color="black",
                linewidth=2,
                zorder=4,
                label="median" if x == 0 else None,
            )
        ax.annotate(
            f"{int(solved.sum())}/{n} solved\nmedian "
            f"{'not reached' if med is None else f'{med:g}'}",
            (x, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -34),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
        )
    ax.axhline(horizon, color="0.4", linewidth=0.8, linestyle=":")
    ax.set_ylim(0, horizon * 1.2)
    ticks = [t for t in ax.get_yticks() if 0 <= t <= horizon]
    ax.set_yticks(ticks + [unsolved_y], [f"{t:g}" for t in ticks] + ["not\nsolved"])
    ax.set_xticks(range(len(data.variants)), [f"{v}\n(n={data.n_seeds(v)})" for v in data.variants])
    for tick, name in zip(ax.get_xticklabels(), data.variants):
        tick.set_color(colors[name])
    ax.set_xlim(-0.6, len(data.variants) - 0.4)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("Episodes to solve")
    ax.set_title(
        f"Episodes until the {env.solve_window}-episode mean training return "
        f"first reaches {env.solved_threshold:g}\n{data.seeds_phrase()}; a mark "
        f"per seed; median with unsolved seeds counted as never",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_time_to_solve(data: ReportData):
    """Kaplan-Meier fraction of seeds solved against episodes and env steps, with bands;
    a cross where a seed that never solved was censored (its budget)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    units = (
        ("episodes", "episodes", "Training episodes"),
        ("env_steps", "env_steps", "Environment steps"),
    )
    for ax, (unit, budget, xlabel) in zip(axes, units):
        for name in data.variants:
            km = data.metrics[name].get("time_to_solve", {}).get(unit)
            if km is None:
                continue
            color = data.colors[name]
            if km["ci_low"] is not None:
                ax.fill_between(
                    km["time"],
                    km["ci_low"],
                    km["ci_high"],
                    step="post",
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                )
            ax.step(
                km["time"],
                km["solved"],
                where="post",
                color=color,
                linewidth=2,
                label=data.label(name),
            )
            rows = data.seeds[(data.seeds["variant"] == name) & ~data.seeds["solved"].astype(bool)]
            if len(rows):
                censored = rows[budget].to_numpy(dtype=float)
                # on the curve where it stands at each censoring time (a step function)
                at = np.searchsorted(np.asarray(km["time"], dtype=float), censored, "right") - 1
                ax.plot(
                    censored,
                    np.asarray(km["solved"], dtype=float)[np.clip(at, 0, None)],
                    marker="x",
                    color=color,
                    linestyle="none",
                    markersize=7,
                )
        ax.set_xlabel(xlabel)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(left=0)
    axes[0].set_ylabel("Fraction of seeds solved (Kaplan-Meier)")
    axes[1].plot(
        [],
        [],
        marker="x",
        color="0.3",
        linestyle="none",
        label="never solved (censored at its budget)",
    )
    axes[1].legend(loc="lower right", fontsize=8)
    ci = f"{data.config.report.ci:.0%}"
    fig.suptitle(
        f"Time to solve on {data.config.env.id}, {data.seeds_phrase()}: Kaplan-Meier "
        f"estimate with its {ci} band",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def plot_seed_grid(data: ReportData):
    table = data.seeds.pivot(index="seed", columns="variant", values="final_return")
    table = table.reindex(columns=data.variants).sort_index()
    values = table.to_numpy(dtype=float)
    n_seeds, n_var = values.shape
    fig, ax = plt.subplots(figsize=(1.5 * n_var + 2.8, 0.36 * n_seeds + 1.9))
    finite = values[np.isfinite(values)]
    vmin, vmax = min(0.0, finite.min()), max(finite.max(), 1e-9)
    if vmin == vmax:
        vmax = vmin + 1.0
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    digits = 0 if np.abs(finite).max() >= 100 else 1
    for i in range(n_seeds):
        for j in range(n_var):
            v = values[i, j]
            text = f"{v:.{digits}f}" if np.isfinite(v) else "–"
            dark = np.isfinite(v) and (v - vmin) / (vmax - vmin) < 0.6
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
            )
    ax.set_xticks(range(n_var), [data.label(v) for v in data.variants], rotation=20, ha="right")
    for tick, name in zip(ax.get_xticklabels(), data.variants):
        tick.set_color(data.colors[name])
    ax.set_yticks(range(n_seeds), [str(s) for s in table.index])
    ax.set_ylabel("Training seed")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.colorbar(image, ax=ax, label="Final return", fraction=0.05, pad=0.03)
    ax.set_title(f"Final return per seed and variant\n({data.eval_phrase()})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_performance_profile(data: ReportData):
    scores = {
        v: data.seeds.loc[data.seeds["variant"] == v, "final_return"].to_numpy()
        for v in data.variants
    }
    every = np.concatenate(list(scores.values()))
    low, high = min(0.0, float(every.min())), float(every.max())
    pad = 0.03 * (high - low or 1.0)
    thresholds = np.linspace(low - pad, high + pad, 301)
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for name in data.variants:
        frac, lo, hi = stats.performance_profile(scores[name], thresholds, data.settings, name)
        if lo is not None:
            ax.fill_between(
                thresholds, lo, hi, color=data.colors[name], alpha=0.13, linewidth=0, step="post"
            )
        ax.step(
            thresholds,
            frac,
            where="post",
            color=data.colors[name],
            linewidth=2,
            label=data.label(name),
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(thresholds[0], thresholds[-1])
    ax.set_xlabel(r"Threshold $\tau$ on final return")
    ax.set_ylabel(r"Fraction of seeds with final return $\geq \tau$")
    ci = f"{data.config.report.ci:.0%}"
    ax.set_title(
        f"Performance profile on {data.config.env.id}, {data.seeds_phrase()}\n"
        f"higher and further right is better; band: {ci} bootstrap CI",
        fontsize=10,
    )
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def _log_scale(key: str, values) -> bool:
    """Learning rates (and any positive key spanning a factor of 10) on a log axis."""
    values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return (
        bool(values) and min(values) > 0 and (key.endswith("lr") or max(values) / min(values) >= 10)
    )


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_sensitivity(data: ReportData):
    """The trials of every tuned variant: a row per variant, a panel per searched key, each
    complete trial's criterion value (IQM over the tuning seeds) against its value of the
    key; pruned trials as crosses on the bottom edge (they have no criterion value), the
    chosen trial starred, a range's bounds dashed."""
    if not data.tuning:
        fig, ax = plt.subplots(figsize=(6, 2.2))
        ax.text(
            0.5,
            0.5,
            "No variant has a search space (tune.search in params.yaml).",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return fig
    cfg = data.config
    width = max(len(cfg.search_space(name)) for name in data.tuning)
    fig, axes = plt.subplots(
        len(data.tuning), width, figsize=(4.6 * width, 3.4 * len(data.tuning)), squeeze=False
    )
    for row, (name, results) in zip(axes, data.tuning.items()):
        space = cfg.search_space(name)
        table = tuning_checks.summarize(cfg, name, results)
        weights = tuning_checks.importances(space, table) or {}
        complete, pruned = table[table["state"] == "complete"], table[table["state"] != "complete"]
        color = data.colors[name]
        for ax, (key, spec) in zip(row, space.items()):
            ax.plot(complete[key], complete["value"], "o", color=color, alpha=0.8, label="trial")
            if len(pruned):
                ax.plot(
                    pruned[key],
                    [0.02] * len(pruned),
                    "x",
                    color="0.45",
                    transform=ax.get_xaxis_transform(),
                    label="pruned",
                )
            best = table[table["chosen"]]
            ax.plot(
                best[key],
                best["value"],
                "*",
                markersize=15,
                color=color,
                markeredgecolor="black",
                label="chosen",
            )
            values = list(table[key])
            if isinstance(spec, Range):
                for bound in (spec.low, spec.high):
                    ax.axvline(bound, color="0.6", linestyle="--", linewidth=0.8)
                values += [spec.low, spec.high]
            if (isinstance(spec, Range) and spec.log) or (
                not isinstance(spec, Range) and _log_scale(key, values)
            ):
                ax.set_xscale("log")
            weight = f", importance {weights[key]:.2f}" if key in weights else ""
            ax.set_title(f"{name}: {key}{weight}", fontsize=10)
            ax.set_xlabel(key)
            ax.legend(loc="best", fontsize=7)
        row[0].set_ylabel(f"{cfg.tune.criterion}, IQM over tuning seeds", fontsize=9)
        for ax in row[len(space) :]:
            ax.set_visible(False)
    seeds = ", ".join(str(s) for s in cfg.tune.seeds)
    fig.suptitle(f"Tuning trials on the tuning seeds ({seeds}) only", fontsize=11)
    fig.tight_layout()
    return fig


def render_figures(data: ReportData, curves: dict[str, dict] | None = None) -> dict[str, bytes]:
    """{'learning_curves.png': b'...', ...}: every figure as PNG and SVG."""
    curves = curves if curves is not None else smoothed_curves(data)
    makers = {
        "learning_curves": lambda: plot_learning_curves(data, curves),
        "final_performance": lambda: plot_final_performance(data),
        "p_improve": lambda: plot_p_improve(data),
        "episodes_to_solve": lambda: plot_episodes_to_solve(data),
        "time_to_solve": lambda: plot_time_to_solve(data),
        "seed_grid": lambda: plot_seed_grid(data),
        "performance_profile": lambda: plot_performance_profile(data),
        "sensitivity": lambda: plot_sensitivity(data),
    }
    out = {}
    with matplotlib.style.context("default"), matplotlib.rc_context(RC):
        for name in figure_names(data.config):
            for fmt, blob in figure_bytes(makers[name]()).items():
                out[f"{name}.{fmt}"] = blob
    return out


# --------------------------------------------------------------------------------------
# data files for `dvc plots show / diff`


def learning_curves_csv(data: ReportData, curves: dict[str, dict]) -> str:
    """Long format: one row per variant and grid episode. The Vega template colors by
    `variant` and orders the colors by `order` (the params.yaml position), so a new
    variant shows up without touching dvc.yaml."""
    lines = ["variant,order,episode,return_iqm,ci_low,ci_high"]
    for order, name in enumerate(data.variants):
        band = curves[name]["band"]
        for k, episode in enumerate(band["episode"]):
            low = "" if band["ci_low"] is None else _cell(band["ci_low"][k])
            high = "" if band["ci_high"] is None else _cell(band["ci_high"][k])
            lines.append(f"{name},{order:03d},{int(episode)},{_cell(band['iqm'][k])},{low},{high}")
    return "\n".join(lines) + "\n"


def final_return_csv(data: ReportData) -> str:
    lines = ["variant,order,iqm,ci_low,ci_high"]
    for order, name in enumerate(data.variants):
        m = data.metrics[name]["final_return"]
        lines.append(
            f"{name},{order:03d},{_cell(m['iqm'])},{_cell(m['iqm_ci_low'])},"
            f"{_cell(m['iqm_ci_high'])}"
        )
    return "\n".join(lines) + "\n"


_cell = stats.format_cell


# --------------------------------------------------------------------------------------
# the Markdown report


def _num(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _with_ci(value, low, high, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.{digits}f} (no CI: 1 seed)"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


FIGURE_CAPTIONS = {
    "learning_curves": "Training return, smoothed with a trailing mean. First panel: the "
    "IQM across seeds of every variant with its bootstrap CI band. Other "
    "panels: each seed as a thin line and the IQM in bold. The dashed "
    "line is the solved threshold.",
    "final_performance": "Final return (evaluation after training) as IQM, mean and "
    "median over seeds. The black tick is the estimate, the bar its "
    "percentile bootstrap CI over seeds. Bars that do not overlap "
    "show a difference the seeds support.",
    "p_improve": "Probability that a randomly picked seed of a variant ends with a higher "
    "final return than a randomly picked seed of the reference; 0.5 means "
    "no difference. A CI that excludes 0.5 is a difference the seeds support.",
    "episodes_to_solve": "For each seed, the first training episode at which the moving "
    "average return reaches the solved threshold. Seeds that never "
    "get there are drawn as crosses in the 'not solved' row, and "
    "count as 'never' in the median.",
    "time_to_solve": "The fraction of seeds solved by each training episode (left) and each "
    "environment step (right): the Kaplan-Meier estimate, in which a seed "
    "that never solved counts until its own budget and no further "
    "(censored, a cross), with its pointwise band (Greenwood, log-log). "
    "A curve that rises earlier solves sooner; the log-rank tests of the "
    "Claims compare these curves. In env steps a seed that collapsed is "
    "censored early (its short episodes used few steps), so a variant "
    "with collapsed seeds can look as if all its seeds solved: read the "
    "episode panel for reliability.",
    "seed_grid": "Final return of every seed of every variant. A seed that collapsed or "
    "never learned stands out as a dark cell.",
    "performance_profile": "For each threshold, the fraction of seeds whose final return "
    "reaches it, with a bootstrap CI band. A curve above another "
    "everywhere is better at every level of ambition.",
    "sensitivity": "Every tuning trial, on the tuning seeds only (never the reporting "
    "seeds): its criterion value (the IQM over the tuning seeds) against its value of "
    "each searched key, a row per tuned variant; pruned trials are crosses on the bottom "
    "edge, the chosen trial is starred, a range's bounds are dashed, and each panel's "
    "title gives the key's importance. A flat cloud means the key matters little; the "
    "best trials crowding a bound mean the range should be widened.",
}


def solved_phrase(env) -> str:
    if env.solved_threshold is None:
        return (
            f"`{env.id}` has no solved threshold (gymnasium's spec gives none, and params "
            "set none), so no seed counts as solved and no solve measure or claim is made."
        )
    return (
        f"A seed counts as solved when the mean training return over {env.solve_window} "
        f"consecutive episodes reaches {env.solved_threshold:g}."
    )


def report_markdown(data: ReportData) -> str:
    cfg = data.config
    ci = f"{cfg.report.ci:.0%}"
    ref = data.reference
    lines = [
        "# REINFORCE report",
        "",
        f"Environment `{cfg.env.id}`; {data.seeds_phrase()}; "
        f"final return = {data.eval_phrase()}. Intervals are {ci} percentile bootstrap "
        f"CIs over seeds ({cfg.report.bootstrap_resamples} resamples, bootstrap seed "
        f"{cfg.report.bootstrap_seed}). {solved_phrase(cfg.env)} How to read this report: "
        "`docs/report.md`.",
        "",
        "Made by `dvc repro` (stages `aggregate` and `plot`); do not edit by hand.",
        "",
        *claims_text.claims_markdown(data.statistics, cfg.report.ci),
        "## Variants",
        "",
        "| variant | changes from the `train` defaults | seeds |",
        "|---|---|---|",
    ]
    for name in data.variants:
        trained = cfg.trained_variant(name, data.chosen[name])
        changes = changed_keys(trained, cfg.train)
        text = ", ".join(
            f"`{k}: {_yaml_value(v)}`"
            + (" (chosen on the tuning seeds)" if k in data.chosen[name] else "")
            for k, v in changes.items()
        )
        lines.append(
            f"| {name} | {text or 'none (the defaults)'} | "
            f"{', '.join(str(s) for s in data.runs[name].seeds)} |"
        )
    defaults = ", ".join(f"`{k}: {_yaml_value(v)}`" for k, v in vars(cfg.train).items())
    lines += ["", f"`train` defaults: {defaults}.", ""]
    lines += tuning_markdown(data)
    lines += [
        "## Results",
        "",
        f"Final return: IQM, mean and median over seeds with {ci} CI. "
        f"P(improve): probability that a seed of the variant beats a seed of "
        f"`{ref}`. AUC: mean training return over all episodes (IQM over seeds).",
        "",
        "| variant | final IQM | final mean | final median | P(improve) vs "
        f"{ref} | solve rate | median episodes to solve | AUC IQM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in data.variants:
        m = data.metrics[name]
        f = m["final_return"]
        cells = [
            _with_ci(f[e], f.get(f"{e}_ci_low"), f.get(f"{e}_ci_high")) for e in stats.ESTIMATORS
        ]
        if "p_improve" in m:
            p = m["p_improve"]
            cells.append(_with_ci(p["value"], p["ci_low"], p["ci_high"], 2))
        else:
            cells.append("(reference)")
        solved = m["episodes_to_solve"]
        cells.append(
            "n/a (no threshold)"
            if m["solve_rate"] is None
            else f"{m['solve_rate']:.0%} ({solved['solved_seeds']}/{m['seeds']})"
        )
        med = solved["median"]
        no_threshold = m["solve_rate"] is None
        cells.append("n/a" if no_threshold else "not reached" if med is None else f"{med:g}")
        a = m["auc"]
        cells.append(_with_ci(a["iqm"], a["iqm_ci_low"], a["iqm_ci_high"]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per seed: `reports/tables/seeds.csv`; the headline numbers: "
        "`metrics.json`; every statistic: `reports/statistics.json` and "
        "`reports/tables/summary.csv`.",
        "",
    ]
    lines += claims_text.cost_markdown(data.statistics, cfg.report.ci, data.variants)
    lines += comparison_lines(data)
    lines += ["## Figures", ""]
    for name in figure_names(cfg):
        title = name.replace("_", " ").capitalize()
        if name == "p_improve":
            title = f"Probability of improvement over {ref}"
        lines += [
            f"### {title}",
            "",
            FIGURE_CAPTIONS[name],
            "",
            f"![{title}](figures/{name}.png)",
            "",
        ]
    finals = {name: data.runs[name].final_returns().to_dict() for name in data.variants}
    lines += videos.videos_markdown(finals, prefix="../")  # report.md is in reports/
    lines += ["## Seeds", ""]
    for name in data.variants:
        lines.append(f"- {name}: {', '.join(str(s) for s in data.runs[name].seeds)}")
    lines += [
        "",
        "## Environment",
        "",
        "The environment fingerprint each variant's training recorded "
        "(`runs/<variant>/train/environment.json`):",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for name in data.variants:
        text = json_text(data.runs[name].environment, paths.REPORT).rstrip("\n")
        groups.setdefault(text, []).append(name)
    if len(groups) > 1:
        lines += ["**The variants were trained in different environments.**", ""]
    for text, names in groups.items():
        lines += [f"{', '.join(names)}:", "", "```json", text, "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _space_phrase(spec) -> str:
    if isinstance(spec, Range):
        return spec.describe()
    return "one of " + ", ".join(_yaml_value(v) for v in spec)


def tuning_method(cfg: Config) -> str:
    """How the tuned variants were searched, in words."""
    tune = cfg.tune
    if tune.sampler == "grid":
        how = "every combination of the listed values (a grid), one trial each"
    else:
        sampler = {"tpe": "Optuna's TPE sampler", "random": "Optuna's random sampler"}
        how = (
            f"{tune.trials} trials drawn by {sampler[tune.sampler]} (seed "
            f"{tune.sampler_seed}; TPE's first batch at random)"
            if tune.sampler == "tpe"
            else f"{tune.trials} trials drawn by {sampler[tune.sampler]} (seed {tune.sampler_seed})"
        )
    how += (
        f", proposed {tune.batch} at a time, each batch trained in parallel and told to "
        "the study in trial order"
    )
    if tune.pruner == "none":
        prune = "No pruner: every trial trained its full budget."
    else:
        rule = {
            "median": "Optuna's median rule (below the median of the completed trials at "
            "the same step)",
            "successive-halving": "Optuna's asynchronous successive halving (outside the "
            f"top 1/{tune.reduction_factor} of the values reported at the rung)",
        }[tune.pruner]
        prune = (
            f"Pruner: {rule}, judging each trial at rungs of {tune.first_rung:g} x "
            f"{tune.reduction_factor}^k of its budget on the IQM of the seeds' mean "
            "training return so far; a pruned trial trained its rung only, a survivor was "
            "trained again from its first episode (which its rung run repeats exactly)."
        )
    return f"Each tuned variant: {how}. {prune}"


def tuning_markdown(data: ReportData) -> list[str]:
    """The tuning section: seeds, method, criterion and rule, then per tuned variant its
    space, every trial, each key's importance and the warnings."""
    cfg = data.config
    if not data.tuning:
        return [
            "## Tuning",
            "",
            "No variant has a search space: every variant is trained "
            "exactly as params.yaml writes it.",
            "",
        ]
    seeds = ", ".join(str(s) for s in cfg.tune.seeds)
    lines = [
        "## Tuning",
        "",
        f"Tuned variants were searched (`tune`) on the tuning seeds ({seeds}), which are "
        "disjoint from the reporting seeds: no number in the Results below comes from a "
        f"seed anything was chosen on. {tuning_method(cfg)}",
        "",
        f"**Criterion**: {stats.CRITERION_WORDS[cfg.tune.criterion]} (`tune.criterion: "
        f"{cfg.tune.criterion}`). Selection rule: {stats.selection_rule(cfg.tune.criterion)}. "
        "Untuned variants "
        f"({', '.join(v for v in data.variants if v not in data.tuning)}) are trained "
        "exactly as written. Each study is in `tuning/studies/<variant>.log` "
        "(`optuna-dashboard tuning/studies/<variant>.log`; not versioned: it records when "
        "each trial ran).",
        "",
    ]
    warnings = []
    for name, results in data.tuning.items():
        space = cfg.search_space(name)
        table = tuning_checks.summarize(cfg, name, results)
        lines += [
            f"### {name}",
            "",
            "Search space: "
            + "; ".join(f"`{key}` {_space_phrase(spec)}" for key, spec in space.items())
            + ".",
            "",
        ]
        weights = tuning_checks.importances(space, table)
        if weights:
            lines += [
                "Importance, by "
                + tuning_checks.IMPORTANCE_METHOD
                + ": "
                + ", ".join(
                    f"`{k}` {v:.2f}" for k, v in sorted(weights.items(), key=lambda kv: -kv[1])
                )
                + ".",
                "",
            ]
        elif len(space) > 1:
            lines += ["Importance: not computed (fewer than 3 trials that differ).", ""]
        keys = " | ".join(space)
        lines += [
            f"| trial | {keys} | state | {cfg.tune.criterion} (IQM) | solved | "
            "median episodes to solve | chosen |",
            "|---|" + "---|" * len(space) + "---|---|---|---|---|",
        ]
        for row in table.to_dict("records"):
            median = row["median_episodes_to_solve"]
            complete = row["state"] == "complete"
            lines.append(
                f"| {row['trial']} | "
                + " | ".join(_short(tuning_checks.plain_value(row[k])) for k in space)
                + f" | {'complete' if complete else 'pruned at ' + str(row['episodes'])} | "
                + (f"{row['value']:.1f}" if complete else f"({row['mean_return_iqm']:.1f} so far)")
                + f" | {row['solve_rate']:.0%} | "
                f"{'not reached' if _missing(median) else f'{median:g}'} | "
                f"{'**chosen**' if row['chosen'] else ''} |"
            )
        lines.append("")
        warnings += tuning_checks.variant_warnings(cfg, name, results)
    if warnings:
        lines += ["Warnings about these choices (also printed by `select`):", ""]
        lines += [f"- {w}" for w in warnings]
        lines.append("")
    lines += [
        "The trials, figure by figure: ![Tuning trials](figures/sensitivity.png) "
        "(also under Figures).",
        "",
    ]
    return lines


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _p(value) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_phrase(value) -> str:
    return "p n/a" if value is None else ("p < 0.001" if value < 0.001 else f"p = {value:.3f}")


TEST_NAMES = {"welch": "Welch's t-test", "mann_whitney": "Mann-Whitney U"}


def _untestable(data: ReportData, name: str, test: str) -> str:
    """Why a test has no p-value (stats.welch_test / mann_whitney_test say when)."""
    ref = data.reference
    if test == "welch" and min(data.n_seeds(name), data.n_seeds(ref)) < 2:
        return "needs at least 2 seeds per variant"
    if test == "welch":
        return "no variance in either variant"
    return "every seed of both variants has the same final return"


def verdict(data: ReportData, name: str) -> str:
    """What the seeds support about `name` against the reference, in words, from the
    Holm-corrected tests and the power statement of reports/statistics.json."""
    ref, c = data.reference, data.metrics[name]["comparison"]
    n = min(data.n_seeds(name), data.n_seeds(ref))
    alpha = data.tests.get("alpha", stats.ALPHA)
    significant = [t for t in stats.TESTS if c[t]["significant"]]
    tested = [t for t in stats.TESTS if c[t]["p_holm"] is not None]
    adjusted = ", ".join(f"{TEST_NAMES[t]} {_p_phrase(c[t]['p_holm'])}" for t in tested)
    missing = "; ".join(
        f"{TEST_NAMES[t]}: no test ({_untestable(data, name, t)})"
        for t in stats.TESTS
        if c[t]["p_holm"] is None
    )
    diff = c["mean_difference"]
    direction = "higher" if diff > 0 else "lower"
    ceiling = data.metrics[name].get("claims", {}).get("final_return", {}).get("ceiling")
    if ceiling and ceiling["bound"] and not significant:
        (a, b), (k, m) = ceiling["at_ceiling"], ceiling["seeds"]
        tests = (
            f"no test is significant after Holm correction ({adjusted})"
            if tested
            else "no test is possible"
        )
        return (
            f"**final return cannot separate them**: both at the cap "
            f"({ceiling['ceiling']:g}) on {a}/{k} and {b}/{m} seeds, where more seeds "
            f"cannot help; {tests}. See the Claims for the metrics that can."
        )
    if not tested:
        return f"no test possible: {missing}."
    if len(significant) == len(tested):
        both = "both tests" if len(tested) == 2 else f"{TEST_NAMES[tested[0]]} (the only test)"
        text = (
            f"**supported**: a {direction} final return than `{ref}` "
            f"(mean difference {diff:+.1f}), significant at {alpha:g} after Holm "
            f"correction in {both} ({adjusted})."
        )
        p_imp = data.metrics[name]["p_improve"]["value"]
        if c["mann_whitney"]["significant"] and (p_imp - 0.5) * diff < 0:
            text += (
                f" The tests point different ways: P(improve) is {p_imp:.2f} while "
                "the mean moved the other way."
            )
        return text + (f" {missing}." if missing else "")
    if significant:
        other = [t for t in tested if t not in significant]
        return (
            f"**tentative**: only {TEST_NAMES[significant[0]]} is significant at "
            f"{alpha:g} after Holm correction ({adjusted}); "
            f"{TEST_NAMES[other[0]]} is not. Mean difference {diff:+.1f}."
        )
    seeds = f"{n} seed" if n == 1 else f"{n} seeds"
    text = (
        f"**not established with {seeds}**: no test is significant at {alpha:g} "
        f"after Holm correction ({adjusted})."
    )
    power = c["power"]
    mdd, needed = power["min_detectable_difference"], power["seeds_needed"]
    if diff == 0:
        text += " The means are equal."
    elif mdd is not None and needed is not None:
        text += (
            f" These seeds detect a mean difference of {mdd:.1f} or more with power "
            f"{data.tests.get('power', stats.POWER):g}; the observed {diff:+.1f} "
            f"would take about {needed} seeds per variant."
        )
    return text + (f" {missing}." if missing else "")


def comparison_lines(data: ReportData) -> list[str]:
    """The report's sections "Comparisons with <reference>" and "Power"."""
    ref = data.reference
    others = [v for v in data.variants if v != ref and "comparison" in data.metrics[v]]
    if not others:
        return []
    cfg, tests = data.config, data.tests
    ci = f"{cfg.report.ci:.0%}"
    alpha, power = tests.get("alpha", stats.ALPHA), tests.get("power", stats.POWER)
    family = tests.get("family_size", 0)
    over = (
        "the whole report (the Claims)"
        if data.statistics.get("claims")
        else "this table (both tests of every variant)"
    )
    lines = [
        f"## Comparisons with {ref}",
        "",
        f"Per-seed final returns of each variant against `{ref}`. Welch's t-test "
        "compares means without assuming equal variances; Mann-Whitney U compares "
        "ranks (U / (n1 n2) is P(improve)); both are two-sided. p: the test's own "
        f"p-value; Holm: corrected by Holm's method over the {family} p-values of "
        f"{over}, "
        f"significant when below {alpha:g}. "
        "Hedges' g: the mean difference in pooled standard deviations, with a "
        f"{ci} percentile bootstrap CI over seeds.",
        "",
        "| variant | mean difference | Welch t | p | Holm | Mann-Whitney U | p | Holm "
        "| Hedges' g |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in others:
        c = data.metrics[name]["comparison"]
        g = c["hedges_g"]
        cells = [
            f"{c['mean_difference']:+.1f}",
            _num(c["welch"]["t"], 2),
            _p(c["welch"]["p"]),
            _p(c["welch"]["p_holm"]),
            _num(c["mann_whitney"]["u"], 1),
            _p(c["mann_whitney"]["p"]),
            _p(c["mann_whitney"]["p_holm"]),
            _with_ci(g["value"], g["ci_low"], g["ci_high"], 2) if g["value"] is not None else "n/a",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "What the seeds support:", ""]
    lines += [f"- `{name}`: {verdict(data, name)}" for name in others]
    lines += [
        "",
        "## Power",
        "",
        f"How large a difference in final return these seeds can detect: a two-sided "
        f"two-sample t-test at alpha {alpha:g} with power {power:g} "
        "(statsmodels' `TTestIndPower`), with the pooled standard deviation of each "
        f"pair as the common sd. Seeds needed: per variant, to detect the observed "
        'mean difference with the same test (Colas et al. 2018, "How many random '
        "seeds?\"). The t-test's normal model is rough for returns capped at a "
        "maximum, so read these as orders of magnitude.",
        "",
        "| variant | seeds vs " + ref + " | pooled sd | smallest detectable difference "
        "| observed difference | seeds per variant to detect it |",
        "|---|---|---|---|---|---|",
    ]
    for name in others:
        c = data.metrics[name]["comparison"]
        pw = c["power"]
        mde, mdd = pw["min_detectable_effect"], pw["min_detectable_difference"]
        detect = "n/a" if mdd is None else f"{mdd:.1f} ({mde:.2f} sd)"
        needed = "n/a" if pw["seeds_needed"] is None else str(pw["seeds_needed"])
        ceiling = data.metrics[name].get("claims", {}).get("final_return", {}).get("ceiling")
        if ceiling and ceiling["bound"]:
            (a, b), (k, m) = ceiling["at_ceiling"], ceiling["seeds"]
            needed = f"none would do: at the cap on {a}/{k} and {b}/{m} seeds"
        lines.append(
            f"| {name} | {data.n_seeds(name)} vs {data.n_seeds(ref)} | "
            f"{_num(pw['pooled_sd'])} | {detect} | {c['mean_difference']:+.1f} | "
            f"{needed} |"
        )
    lines += [
        "",
        "n/a: undefined (fewer than 2 seeds, no variance, or no difference). At "
        "the cap: most seeds of both variants reach the maximum return, where the "
        "t-test's seeds-needed number means nothing (more seeds add more 500s).",
        "",
    ]
    lines += claims_text.power_markdown(data.statistics)
    return lines


def _yaml_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------
# the stage


def write_report(config: Config, root: str | Path = ".") -> list[str]:
    """Write reports/figures/*, reports/plots/*.csv and reports/report.md under root."""
    root = Path(root)
    data = load_report_data(config, root)
    curves = smoothed_curves(data)
    figures = render_figures(data, curves)
    with atomic_directory(root / paths.FIGURES) as tmp:
        for name, blob in figures.items():
            write_atomic(tmp / name, blob)
    with atomic_directory(root / paths.PLOTS) as tmp:
        write_atomic(tmp / "learning_curves.csv", learning_curves_csv(data, curves))
        write_atomic(tmp / "final_return.csv", final_return_csv(data))
    write_atomic(root / paths.REPORT, report_markdown(data))
    return sorted(figures)
