"""The report's words for the claims (reinforce/analysis/claims.py): the claims table at
the top of report.md, what is and is not established, the cost and the power of each
metric. Text only, from reports/statistics.json; the figures stay in
reinforce/analysis/report.py."""

from __future__ import annotations

from reinforce.analysis.claims import METRICS, TEST_NAMES, TIMES

METRIC_NAMES = {key: label for key, label, _ in METRICS}


def _p(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def _time(value, unit: str) -> str:
    if value is None:
        return "not reached"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _median(km: dict, unit: str) -> str:
    return (
        f"{_time(km['median'], unit)} [{_time(km['median_ci_low'], unit)}, "
        f"{_time(km['median_ci_high'], unit)}]"
    )


def _signed(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def effect_text(row: dict, variants: dict, reference: str) -> str:
    """The row's effect with its CI, in the units of its metric."""
    metric, name = row["metric"], row["variant"]
    if metric in TIMES:
        unit = TIMES[metric]
        return (
            f"median {_median(variants[name]['time_to_solve'][unit], unit)} vs "
            f"{_median(variants[reference]['time_to_solve'][unit], unit)}"
        )
    if metric == "solve_rate":
        x, y = variants[name], variants[reference]
        return (
            f"{x['episodes_to_solve']['solved_seeds']}/{x['seeds']} vs "
            f"{y['episodes_to_solve']['solved_seeds']}/{y['seeds']} solved: "
            f"{_signed(row['effect_value'], 2)} [{_signed(row['effect_ci_low'], 2)}, "
            f"{_signed(row['effect_ci_high'], 2)}]"
        )
    if row["effect"] == "P(improve)":
        ci = (
            ""
            if row["effect_ci_low"] is None
            else f" [{row['effect_ci_low']:.2f}, {row['effect_ci_high']:.2f}]"
        )
        return f"P(improve) {row['effect_value']:.2f}{ci}"
    ci = (
        ""
        if row["effect_ci_low"] is None
        else f" [{_signed(row['effect_ci_low'], 1)}, {_signed(row['effect_ci_high'], 1)}]"
    )
    return f"mean difference {_signed(row['effect_value'], 1)}{ci}"


def metric_label(row: dict, variants: dict) -> str:
    if row["metric"] == "sample_efficiency":
        budget = variants[row["variant"]]["claims"]["sample_efficiency"]["episodes"]
        return f"sample efficiency (first {budget} episodes)"
    return METRIC_NAMES[row["metric"]]


def claims_markdown(statistics: dict, ci: float) -> list[str]:
    """The "Claims" section: the table and, per variant, what is established."""
    rows, tests = statistics.get("claims") or [], statistics["tests"]
    if not rows:
        return []
    variants, reference = statistics["variants"], tests["reference"]
    alpha = tests["alpha"]
    lines = [
        "## Claims",
        "",
        f"Each variant against `{reference}` on each metric. Every p-value below is "
        f"one Holm family: the {tests['family_size']} tests of this table, which are "
        "every test in this report; a claim is **established** when its Holm-corrected "
        f"p is below {alpha:g}. Effects carry {ci:.0%} CIs (bootstrap over seeds; "
        "Kaplan-Meier for medians; Newcomb for solve rates). Sample efficiency: the mean "
        "training return over the first episodes both variants trained for. Time to "
        "solve: seeds that never solved are censored at their own budget. "
        '`docs/report.md` ("Claims") defines each number.',
        "",
        "| variant | metric | effect [CI] | test | p | Holm p | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = row["verdict"]
        if verdict.startswith("established"):
            verdict = f"**{verdict}**"
        lines.append(
            f"| {row['variant']} | {metric_label(row, variants)} | "
            f"{effect_text(row, variants, reference)} | {TEST_NAMES[row['test']]} | "
            f"{_p(row['p'])} | {_p(row['p_holm'])} | {verdict} |"
        )
    lines += ["", "What the seeds establish:", ""]
    for name in dict.fromkeys(row["variant"] for row in rows):
        lines.append(f"- `{name}`: {summary(name, rows, variants)}")
    lines.append("")
    return lines


def summary(name: str, rows: list[dict], variants: dict) -> str:
    """One sentence: the established metrics and which way, then the others."""
    established, tentative, ceiling, rest = [], [], [], []
    for metric in dict.fromkeys(row["metric"] for row in rows):
        mine = [r for r in rows if r["variant"] == name and r["metric"] == metric]
        tested = [r for r in mine if r["p"] is not None]
        significant = [r for r in tested if r["verdict"].startswith("established")]
        label = metric_label(mine[0], variants)
        if tested and len(significant) == len(tested):
            established.append(
                f"{label}: {significant[0]['verdict'].split(': ', 1)[1]} "
                f"(Holm p {_p(max(r['p_holm'] for r in significant))})"
            )
        elif significant:
            tests = ", ".join(TEST_NAMES[r["test"]] for r in significant)
            tentative.append(f"{label} (only {tests})")
        elif any(r["verdict"].startswith("cannot separate") for r in mine):
            ceiling.append(
                f"{label.capitalize()} cannot separate them: {mine[0]['verdict'].split(': ', 1)[1]}"
            )
        else:
            reasons = [r["verdict"].split(": ", 1)[1] for r in mine if ": " in r["verdict"]]
            rest.append(f"{label} ({reasons[0]})" if reasons else label)
    parts = []
    if established:
        parts.append("**Established**: " + "; ".join(established))
    if tentative:
        parts.append("Tentative: " + "; ".join(tentative))
    if ceiling:
        parts.append("; ".join(ceiling))
    if rest:
        parts.append("Not established: " + ", ".join(rest))
    return ". ".join(parts) + "." if parts else "no claim."


def cost_markdown(statistics: dict, ci: float, order: list[str] | None = None) -> list[str]:
    """The "Cost" section: environment and gradient steps per seed, in all and to solve."""
    variants = statistics["variants"]
    if not all("cost" in e for e in variants.values()):
        return []
    lines = [
        "## Cost",
        "",
        "What each variant spent per seed, exactly (from `curves.csv` and the train "
        "config): environment steps and gradient steps (optimizer steps; a step of the "
        "policy and its critic counts once), in all and until solved (Kaplan-Meier "
        f"median with its {ci:.0%} CI; unsolved seeds censored at their budget). "
        "Wall-clock seconds depend on the machine and are only in `logs/`.",
        "",
        "| variant | episodes per seed | env steps per seed | env steps to solve | "
        "gradient steps per seed | gradient steps to solve |",
        "|---|---|---|---|---|---|",
    ]
    for name in order or list(variants):
        entry = variants[name]
        cost, times = entry["cost"], entry["time_to_solve"]
        lines.append(
            f"| {name} | {_time(cost['episodes_per_seed'], 'episodes')} | "
            f"{cost['env_steps_per_seed']:,.0f} | "
            f"{_median(times['env_steps'], 'env_steps')} | "
            f"{cost['gradient_steps_per_seed']:,.0f} | "
            f"{_median(times['gradient_steps'], 'gradient_steps')} |"
        )
    lines.append("")
    return lines


def power_markdown(statistics: dict) -> list[str]:
    """Power of every metric but final return (whose own table is the Power section)."""
    rows = statistics.get("claims") or []
    if not rows:
        return []
    variants = statistics["variants"]
    lines = [
        "Power of the other metrics' tests, at the same alpha and power: sample "
        "efficiency as final return above (t-test, pooled sd); time to solve: the "
        "smallest hazard ratio a log-rank test detects with the solves observed "
        "(Schoenfeld's formula); solve rate: the smallest Cohen's h a test of two "
        "proportions detects (statsmodels' `NormalIndPower`), and the seeds per variant "
        "that detect the observed h.",
        "",
        "| variant | metric | these seeds detect | observed | seeds per variant to detect it |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(row["variant"] for row in rows):
        claim = variants[name]["claims"]
        pw = claim["sample_efficiency"]["comparison"]["power"]
        diff = claim["sample_efficiency"]["comparison"]["mean_difference"]
        detect = (
            "n/a"
            if pw["min_detectable_difference"] is None
            else f"a mean difference of {pw['min_detectable_difference']:.1f} "
            f"({pw['min_detectable_effect']:.2f} sd)"
        )
        lines.append(
            f"| {name} | sample efficiency | {detect} | {diff:+.1f} | "
            f"{pw['seeds_needed'] if pw['seeds_needed'] is not None else 'n/a'} |"
        )
        if "solve_rate" not in claim:  # an env without a solved threshold
            continue
        for metric in TIMES:
            p = claim[metric]["power"]
            hr = p["min_detectable_hazard_ratio"]
            detect = (
                "n/a"
                if hr is None
                else (f"a hazard ratio of {hr:.2f} (or 1/{hr:.2f}) with {p['events']} solves")
            )
            diff = claim[metric]["median_difference"]
            lines.append(
                f"| {name} | {METRIC_NAMES[metric]} | {detect} | median "
                f"{_signed(diff, 0) if diff is not None else 'n/a'} | n/a |"
            )
        sr = claim["solve_rate"]["power"]
        detect = (
            "n/a"
            if sr["min_detectable_effect"] is None
            else f"h = {sr['min_detectable_effect']:.2f}"
        )
        lines.append(
            f"| {name} | solve rate | {detect} | h = {sr['observed_effect']:+.2f} | "
            f"{sr['seeds_needed'] if sr['seeds_needed'] is not None else 'n/a'} |"
        )
    lines.append("")
    return lines
