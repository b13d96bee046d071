"""Which seeds the videos show, and the report's video section (links only).

The videos themselves are rendered by the videos stage (reinforce/agent/video.py) from
the checkpoints; a report only links their files (reinforce/io/paths.py: VIDEOS_DIR), so
editing the report never renders anything again.
"""

from __future__ import annotations

from collections.abc import Mapping

from reinforce.io.paths import MEDIAN_VIDEO, STRIP_VIDEO, SUITE_ENVS, VIDEOS_DIR


def video_seeds(final_returns: Mapping[int, float]) -> dict[str, int]:
    """{"worst", "median", "best"} seeds by final return: the seeds sorted by (final
    return, seed), the first, the lower median ((n - 1) // 2) and the last. Ties go to the
    lower seed, so the choice is a function of the returns alone."""
    if not final_returns:
        raise ValueError("no seeds to choose a video from")
    ranked = sorted(final_returns, key=lambda seed: (float(final_returns[seed]), int(seed)))
    return {
        "worst": int(ranked[0]),
        "median": int(ranked[(len(ranked) - 1) // 2]),
        "best": int(ranked[-1]),
    }


def video_links(variant: str, prefix: str = "") -> tuple[str, str]:
    """The (median, strip) files of a variant, relative to the study's root, after prefix
    (the way from the report's folder to that root, e.g. "../")."""
    folder = prefix + VIDEOS_DIR.format(variant=variant)
    return f"{folder}/{MEDIAN_VIDEO}", f"{folder}/{STRIP_VIDEO}"


def videos_markdown(
    finals: Mapping[str, Mapping[int, float]], prefix: str, heading: str = "##"
) -> list[str]:
    """The videos section: per variant (finals: variant -> seed -> final return), the
    median seed's greedy episode and, with two or more seeds, the worst | best strip."""
    lines = [
        f"{heading} Videos",
        "",
        "One greedy evaluation episode per variant (the first evaluation episode: the "
        "untouched env reset with `evaluate.seed_offset + seed`), of the seed with the "
        "median final return; below it, the worst and the best seed side by side. "
        "Rendered by the `videos` stages from the checkpoints (`dvc repro`); "
        "`docs/agents.md` says how, and how to play any seed yourself.",
        "",
    ]
    for variant, returns in finals.items():
        chosen = video_seeds(returns)
        median, strip = video_links(variant, prefix)
        lines += [
            f"{heading}# {variant}",
            "",
            f"![{variant}: seed {chosen['median']}]({median})",
            "",
            f"Median seed {chosen['median']} (final return "
            f"{returns[chosen['median']]:.1f}, of {len(returns)} seeds).",
            "",
        ]
        if chosen["worst"] != chosen["best"]:
            lines += [
                f"![{variant}: worst and best seed]({strip})",
                "",
                f"Worst seed {chosen['worst']} ({returns[chosen['worst']]:.1f}) | best "
                f"seed {chosen['best']} ({returns[chosen['best']]:.1f}).",
                "",
            ]
    return lines


def suite_videos_markdown(
    finals: Mapping[str, Mapping[str, Mapping[int, float]]], variants: list[str]
) -> list[str]:
    """A suite's videos (finals: env -> variant -> seed -> final return): one table, a
    row per env and a column per variant, each cell the median seed's episode, linked
    from reports/suite.md to each env's own folder (envs/<env>/reports/videos/...)."""
    lines = [
        "## Videos",
        "",
        "Per env and variant, one greedy evaluation episode of the seed with the median "
        "final return (seed in brackets); each env's report (`envs/<env>/reports/"
        "report.md`) also shows its worst and best seed. Rendered by the `videos` stages.",
        "",
        "| env | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for env_id, by_variant in finals.items():
        cells = []
        for variant in variants:
            seed = video_seeds(by_variant[variant])["median"]
            median, _ = video_links(variant, f"../{SUITE_ENVS.format(env=env_id)}/")
            cells.append(f"![{env_id} {variant}]({median}) (seed {seed})")
        lines.append(f"| {env_id} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines
