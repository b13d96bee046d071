"""The claims of the report: each variant against the reference on each metric it can be
judged on, every test in one Holm family, and the verdict in words.

Metrics (docs/report.md, "Claims"):
- final return: Welch's t and Mann-Whitney U on the per-seed evaluation return (stats);
  when most seeds of both variants sit at the environment's maximum return (the ceiling)
  the words say that final return cannot separate them, instead of asking for seeds;
- sample efficiency: the same two tests on the mean training return over the first B
  episodes, B the smaller budget of the pair, so that it compares like with like and does
  not saturate as soon as final return does;
- time to solve, in episodes and in environment steps: the log-rank test on censored
  times (survival.py);
- solve rate: Fisher's exact test on solved / unsolved seeds.
Holm's correction runs over every p-value of all of them, for all variants: one family,
and the final-return comparisons of stats are rewritten with its corrected p.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import partial

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize

from reinforce.analysis import measures, stats, survival
from reinforce.io import paths

# The maximum return of an episode, where it is known: CartPole pays +1 per step until
# gymnasium's time limit (its registered max_episode_steps: 200 for v0, 500 for v1). For
# any other environment the ceiling is unknown (None) and never claimed.
CEILINGS = {"CartPole-v0": 200.0, "CartPole-v1": 500.0}
CEILING_SHARE = 0.5  # "at the ceiling": at least this share of the seeds of both variants
# (metric key, its name in the report, the test of each row)
METRICS = (
    ("final_return", "final return", ("welch", "mann_whitney")),
    ("sample_efficiency", "sample efficiency", ("welch", "mann_whitney")),
    ("time_to_solve", "time to solve (episodes)", ("logrank",)),
    ("steps_to_solve", "time to solve (env steps)", ("logrank",)),
    ("solve_rate", "solve rate", ("fisher",)),
)
TEST_NAMES = {
    "welch": "Welch's t",
    "mann_whitney": "Mann-Whitney U",
    "logrank": "log-rank",
    "fisher": "Fisher's exact",
}
TIMES = {"time_to_solve": "episodes", "steps_to_solve": "env_steps"}
CLAIM_COLUMNS = (
    "variant",
    "metric",
    "test",
    "effect",
    "effect_value",
    "effect_ci_low",
    "effect_ci_high",
    "p",
    "p_holm",
    "significant",
    "verdict",
)


def return_ceiling(env_id: str) -> float | None:
    return CEILINGS.get(env_id)


def ceiling_note(x, y, ceiling: float | None) -> dict:
    """How many seeds of each sample are at the ceiling, and whether most of both are
    (then their comparison says little: the metric cannot go higher)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if ceiling is None:
        return {"ceiling": None, "at_ceiling": None, "seeds": [len(x), len(y)], "bound": False}
    at = [int(np.sum(x >= ceiling)), int(np.sum(y >= ceiling))]
    bound = at[0] >= CEILING_SHARE * len(x) and at[1] >= CEILING_SHARE * len(y)
    return {"ceiling": ceiling, "at_ceiling": at, "seeds": [len(x), len(y)], "bound": bool(bound)}


def _mean_difference(x, y, axis: int = -1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def mean_difference(x, y, settings: stats.BootstrapSettings, *names: str) -> dict:
    """mean(x) - mean(y) with a percentile bootstrap CI (seeds resampled independently)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    low, high = stats.bootstrap_ci((x, y), _mean_difference, settings, *names, "mean_difference")
    return {"value": float(_mean_difference(x, y)), "ci_low": low, "ci_high": high}


def solve_rate_comparison(
    solved_x: int,
    n_x: int,
    solved_y: int,
    n_y: int,
    confidence: float = 0.95,
    alpha: float = stats.ALPHA,
    power: float = stats.POWER,
) -> dict:
    """Difference in solve rate with Newcomb's CI (statsmodels), Fisher's exact test
    (scipy, two-sided) and the power of a test of two proportions (statsmodels'
    NormalIndPower on Cohen's h): the smallest h these seeds detect, and the seeds per
    variant that detect the observed one (None when the rates are equal)."""
    difference = solved_x / n_x - solved_y / n_y
    low, high = confint_proportions_2indep(
        solved_x, n_x, solved_y, n_y, method="newcomb", compare="diff", alpha=1 - confidence
    )
    table = [[solved_x, n_x - solved_x], [solved_y, n_y - solved_y]]
    p = float(sps.fisher_exact(table, alternative="two-sided").pvalue)
    analysis = NormalIndPower()
    h = float(proportion_effectsize(solved_x / n_x, solved_y / n_y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            detectable = float(
                analysis.solve_power(
                    effect_size=None, nobs1=n_x, ratio=n_y / n_x, alpha=alpha, power=power
                )
            )
        except (ValueError, RuntimeError, ArithmeticError):
            detectable = None
        needed = None
        if h != 0:
            value = float(
                analysis.solve_power(
                    effect_size=abs(h), nobs1=None, ratio=1.0, alpha=alpha, power=power
                )
            )
            needed = max(2, math.ceil(value)) if math.isfinite(value) else None
    return {
        "difference": {"value": float(difference), "ci_low": float(low), "ci_high": float(high)},
        "fisher": {"p": p if math.isfinite(p) else None},
        "power": {
            "observed_effect": h,
            "min_detectable_effect": detectable,
            "seeds_needed": needed,
        },
    }


def _times(table: pd.DataFrame, column: str, budget: str) -> tuple[np.ndarray, np.ndarray]:
    """(time, solved) per seed: the time it solved at, else its budget (censored)."""
    solved = table[column].notna().to_numpy()
    times = np.where(
        solved, table[column].fillna(0).to_numpy(dtype=float), table[budget].to_numpy(dtype=float)
    )
    return times, solved


SURVIVAL_TIMES = {
    "episodes": ("episodes_to_solve", "episodes"),
    "env_steps": ("env_steps_to_solve", "env_steps"),
    "gradient_steps": ("gradient_steps_to_solve", "gradient_steps"),
}


def extend_statistics(
    config,
    statistics: dict,
    seeds: pd.DataFrame,
    runs: dict[str, stats.VariantRuns],
    chosen: dict[str, dict],
) -> tuple[dict, pd.DataFrame]:
    """stats.aggregate's statistics and seed table, with: per seed its cost; per variant
    the Kaplan-Meier time to solve, the cost, the seeds at the ceiling and (against the
    reference) every claim; the claims table; one Holm family over all of it."""
    settings = stats.BootstrapSettings.from_config(config.report)
    ci, env = config.report.ci, config.env
    ceiling = return_ceiling(env.id)
    costs = []
    for name, run in runs.items():
        cfg = config.trained_variant(name, chosen.get(name) or {})
        costs.append(
            measures.cost_table(run, cfg, env.solve_window, env.solved_threshold).assign(
                variant=name
            )
        )
    seeds = seeds.merge(
        pd.concat(costs, ignore_index=True),
        on=["variant", "seed"],
        how="left",
        validate="one_to_one",
    )
    tables = {name: seeds[seeds["variant"] == name].sort_values("seed") for name in runs}
    reference = statistics["tests"]["reference"]
    variants = statistics["variants"]
    for name, table in tables.items():
        entry = variants[name]
        entry["time_to_solve"] = {
            unit: survival.kaplan_meier(*_times(table, column, budget), confidence=ci)
            for unit, (column, budget) in SURVIVAL_TIMES.items()
        }
        entry["cost"] = {
            "episodes_per_seed": float(table["episodes"].mean()),
            "env_steps": int(table["env_steps"].sum()),
            "gradient_steps": int(table["gradient_steps"].sum()),
            "env_steps_per_seed": float(table["env_steps"].mean()),
            "gradient_steps_per_seed": float(table["gradient_steps"].mean()),
        }
        finals = table["final_return"].to_numpy(dtype=float)
        entry["final_return"]["at_ceiling"] = (
            None if ceiling is None else int(np.sum(finals >= ceiling))
        )
    ref_table = tables[reference]
    for name, table in tables.items():
        if name == reference:
            continue
        entry = variants[name]
        budget = int(min(table["episodes"].min(), ref_table["episodes"].min()))
        run_seeds = list(table["seed"])
        early_x = measures.early_return(runs[name], budget).loc[run_seeds].to_numpy()
        early_y = (
            measures.early_return(runs[reference], budget).loc[list(ref_table["seed"])].to_numpy()
        )
        final_x = table["final_return"].to_numpy(dtype=float)
        final_y = ref_table["final_return"].to_numpy(dtype=float)
        claim = {
            "final_return": {
                "mean_difference": mean_difference(
                    final_x, final_y, settings, name, reference, "final_return"
                ),
                "ceiling": ceiling_note(final_x, final_y, ceiling),
            },
            "sample_efficiency": {
                "episodes": budget,
                "mean": float(np.mean(early_x)),
                "reference_mean": float(np.mean(early_y)),
                "mean_difference": mean_difference(
                    early_x, early_y, settings, name, reference, "sample_efficiency"
                ),
                "p_improve": stats.p_improve(
                    early_x, early_y, settings, name, reference, "sample_efficiency"
                ),
                "comparison": stats.compare(
                    early_x, early_y, settings, name, reference, "sample_efficiency"
                ),
            },
        }
        if env.solved_threshold is None:  # no "solved" on this env: no solve claim
            entry["claims"] = claim
            continue
        for metric, unit in TIMES.items():
            tx, sx = _times(table, *SURVIVAL_TIMES[unit])
            ty, sy = _times(ref_table, *SURVIVAL_TIMES[unit])
            mx = entry["time_to_solve"][unit]["median"]
            my = variants[reference]["time_to_solve"][unit]["median"]
            claim[metric] = {
                "logrank": survival.logrank(tx, sx, ty, sy),
                "censored_early": censored_early(tx, sx, ty, sy) if unit == "env_steps" else None,
                "median_difference": None if mx is None or my is None else mx - my,
                "power": {
                    "events": int(sx.sum() + sy.sum()),
                    "min_detectable_hazard_ratio": survival.min_detectable_hazard_ratio(
                        int(sx.sum() + sy.sum()), len(tx) / (len(tx) + len(ty))
                    ),
                },
            }
        solved_x, solved_y = int(table["solved"].sum()), int(ref_table["solved"].sum())
        claim["solve_rate"] = solve_rate_comparison(
            solved_x, len(table), solved_y, len(ref_table), confidence=ci
        )
        entry["claims"] = claim
    rows = claim_rows(statistics)
    family = holm_family(rows, statistics)
    tests = statistics["tests"]
    tests["family_size"] = family
    tests["family"] = (
        "every test of the claims table: final return and sample efficiency "
        "(Welch, Mann-Whitney), time to solve in episodes and in env steps "
        "(log-rank), solve rate (Fisher), for every variant against the "
        "reference"
    )
    tests["ceiling"] = ceiling
    for row in rows:
        row["verdict"] = verdict(row, statistics)
    statistics["claims"] = rows
    return stats.round_floats(statistics), seeds.astype(
        {column: "Int64" for column in measures.COST_COLUMNS}
    )


def claim_rows(statistics: dict) -> list[dict]:
    """A row per test of every variant against the reference, in METRICS order."""
    rows = []
    reference = statistics["tests"]["reference"]
    for name, entry in statistics["variants"].items():
        if name == reference or "claims" not in entry:
            continue
        claim, comparison = entry["claims"], entry["comparison"]
        for metric, _label, tests in METRICS:
            if metric != "final_return" and metric not in claim:
                continue  # an env without a solved threshold has no solve claims
            for test in tests:
                row = {"variant": name, "metric": metric, "test": test}
                if metric in ("final_return", "sample_efficiency"):
                    source = comparison if metric == "final_return" else claim[metric]["comparison"]
                    effect = (
                        claim[metric]["mean_difference"]
                        if test == "welch"
                        else (
                            entry["p_improve"]
                            if metric == "final_return"
                            else claim[metric]["p_improve"]
                        )
                    )
                    row.update(
                        effect="mean difference" if test == "welch" else "P(improve)",
                        effect_value=effect["value"],
                        effect_ci_low=effect["ci_low"],
                        effect_ci_high=effect["ci_high"],
                        p=source[test]["p"],
                    )
                elif metric in TIMES:
                    row.update(
                        effect="median difference",
                        effect_value=claim[metric]["median_difference"],
                        effect_ci_low=None,
                        effect_ci_high=None,
                        statistic=claim[metric]["logrank"]["statistic"],
                        p=claim[metric]["logrank"]["p"],
                    )
                else:
                    d = claim[metric]["difference"]
                    row.update(
                        effect="difference",
                        effect_value=d["value"],
                        effect_ci_low=d["ci_low"],
                        effect_ci_high=d["ci_high"],
                        p=claim[metric]["fisher"]["p"],
                    )
                rows.append(row)
    return rows


def holm_family(
    rows: list[dict], statistics: dict | None = None, alpha: float = stats.ALPHA
) -> int:
    """Holm-correct every p-value of the rows as one family, in place (p_holm, significant;
    None for a row without a p), and copy the corrected final-return p-values into
    statistics' comparisons, which the report's Comparisons section reads. Returns the
    family's size."""
    tested = [row for row in rows if row["p"] is not None]
    adjusted = []
    if tested:
        _, adjusted, _, _ = multipletests([row["p"] for row in tested], alpha=alpha, method="holm")
    for row in rows:
        row["p_holm"], row["significant"] = None, None
    for row, p in zip(tested, adjusted):
        row["p_holm"], row["significant"] = float(p), bool(p < alpha)
    if statistics is not None:
        for row in rows:
            if row["metric"] == "final_return":
                test = statistics["variants"][row["variant"]]["comparison"][row["test"]]
                test["p_holm"], test["significant"] = row["p_holm"], row["significant"]
    return len(tested)


def direction(row: dict) -> str:
    """Which way the row's effect points, in words about the variant."""
    metric, value = row["metric"], row["effect_value"]
    if metric in TIMES:
        statistic = row.get("statistic")
        return "solves sooner" if statistic is not None and statistic > 0 else "solves later"
    if metric == "solve_rate":
        return "solves more seeds" if value > 0 else "solves fewer seeds"
    better = value > 0.5 if row["effect"] == "P(improve)" else value > 0
    return "higher" if better else "lower"


def censored_early(tx, sx, ty, sy) -> dict[str, int]:
    """Per side, the unsolved seeds censored before the pair's last solve.

    In episodes every unsolved seed is censored at its variant's fixed budget, whatever it
    did; in env steps its budget is the steps it played, so a seed that collapsed (short
    episodes) leaves the data early. That censoring depends on how the run went, which the
    log-rank test assumes it does not, and it flatters the side it happens on: its curve
    loses its worst seeds before they could fail to solve."""
    tx, sx, ty, sy = (np.asarray(a) for a in (tx, sx, ty, sy))
    solves = np.concatenate([tx[sx.astype(bool)], ty[sy.astype(bool)]])
    if solves.size == 0:
        return {"variant": 0, "reference": 0}
    last = solves.max()
    return {
        "variant": int(np.sum(~sx.astype(bool) & (tx < last))),
        "reference": int(np.sum(~sy.astype(bool) & (ty < last))),
    }


def verdict(row: dict, statistics: dict) -> str:
    """The row's verdict: established (Holm-corrected p below alpha) and which way, the
    ceiling for a final return that cannot separate the variants, or not established.

    A time to solve in env steps is not established where its direction is the one the
    early censoring of censored_early flatters: "solves later" where the reference lost
    seeds early, "solves sooner" where the variant did."""
    if row["significant"]:
        if row["metric"] == "steps_to_solve":
            entry = statistics["variants"][row["variant"]]
            early = entry["claims"]["steps_to_solve"]["censored_early"] or {}
            side = "reference" if direction(row) == "solves later" else "variant"
            if early.get(side):
                who = statistics["tests"]["reference"] if side == "reference" else row["variant"]
                return (
                    f"not established: {early[side]} unsolved seed(s) of {who} stopped at "
                    "fewer env steps than the last solve, which flatters it"
                )
        return f"established: {direction(row)}"
    if row["metric"] == "final_return":
        note = statistics["variants"][row["variant"]]["claims"]["final_return"]["ceiling"]
        if note["bound"]:
            (a, b), (n, m) = note["at_ceiling"], note["seeds"]
            return (
                f"cannot separate: both at the cap ({note['ceiling']:g}) on {a}/{n} "
                f"and {b}/{m} seeds"
            )
    if row["p"] is None:
        return (
            "no test: no seed solved while both variants had seeds in training"
            if row["test"] == "logrank"
            else "no test: no variance in either variant"
        )
    return "not established"


def aggregate_outputs(config, root=".", chosen: dict[str, dict] | None = None) -> dict[str, str]:
    """stats.aggregate_outputs with the claims (extend_statistics) and their table,
    reports/tables/claims.csv."""
    outputs = stats.aggregate_outputs(
        config, root, chosen, extend=partial(extend_statistics, config)
    )
    rows = json.loads(outputs[stats.STATISTICS_PATH]).get("claims", [])
    frame = pd.DataFrame(rows).reindex(columns=list(CLAIM_COLUMNS))
    outputs[f"{paths.TABLES}/claims.csv"] = stats.table_csv(frame)
    return outputs
