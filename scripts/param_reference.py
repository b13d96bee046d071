"""The parameter reference, docs/reference/parameters.md, generated from the config
dataclasses of reinforce/io/config.py (every key, its default) and the committed
params.yaml (the value the default run uses), with the one description of each key below.

    python scripts/param_reference.py --write    # regenerate the page
    python scripts/param_reference.py --check    # exit 1 if the page is stale (CI, a test)

A field added to a dataclass without a description here (or a description left for a field
that is gone) fails both, naming the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reinforce.io import config  # noqa: E402

PAGE = ROOT / "docs" / "reference" / "parameters.md"
PARAMS = ROOT / "params.yaml"

# (section in params.yaml, its dataclass, what the section is). Config's own fields that
# are not a section of params.yaml (suite_envs: derived from `envs`) are left out.
SECTIONS = [
    ("env", config.EnvConfig, "The environment of a single-env study."),
    (
        "tune",
        config.TuneConfig,
        "Tuning: which variants are tuned, on which seeds, and how ([Tuning](../tuning.md)).",
    ),
    (
        "train",
        config.TrainConfig,
        "The training defaults: the article's REINFORCE. Every variant starts from them.",
    ),
    ("evaluate", config.EvaluateConfig, "Evaluation of each seed's trained policy."),
    ("report", config.ReportConfig, "The statistics of the report."),
    (
        "compute",
        config.ComputeConfig,
        "Where the seeds run. No stage depends on these keys: the results are the same bytes "
        "for any value ([Running on a cluster](../cluster.md)).",
    ),
    (
        "random",
        config.RandomConfig,
        "A suite's random-policy baseline ([Suites of environments](../suite.md)).",
    ),
]

# Config's fields that hold no dataclass of their own: documented as top-level keys.
TOP_LEVEL = {
    "seeds": (
        "The **reporting seeds**: every number of the report comes from them. Each seed fixes "
        "its run's network init, action sampling and env resets."
    ),
    "variants": (
        "`variants.<name>`: the variants compared, each a mapping of `train` keys it "
        "overrides (`{}`: the `train` defaults). Every variant is tuned (if it has a search "
        "space), trained, evaluated and compared with `article`. A name holds 1 to 64 "
        "letters, digits, `-` or `_` (no `.`: DVC reads it as nesting)."
    ),
    "envs": (
        "`envs.<id>` in place of `env`: a suite of environments, each with the `env` keys "
        "below (and `episodes`, `reference_score`); "
        "[Suites of environments](../suite.md)."
    ),
}

DESCRIPTIONS = {
    "env.id": (
        "Any Gymnasium id with a one-dimensional Box observation and a Discrete action space "
        "(the categorical policy; `Acrobot-v1` works too) or a one-dimensional Box action "
        "space with finite bounds (a diagonal Gaussian policy: `Pendulum-v1`, "
        "`MountainCarContinuous-v0`, and `LunarLanderContinuous-v3` where Box2D is installed)."
    ),
    "env.solved_threshold": (
        "A seed is solved when its moving average training return over `solve_window` "
        "episodes reaches it. Absent: gymnasium's `spec.reward_threshold` (CartPole-v1 475, "
        "Acrobot-v1 -100); `null`, or an env whose spec has none (`Pendulum-v1`): no "
        '"solved", and no solve measure or claim.'
    ),
    "env.solve_window": 'Episodes of the moving average that decides "solved".',
    "env.reference_score": (
        "Suites only: the normalized score's reference, (score - random) / (reference - "
        "random); absent: the solved threshold. Required where the env has no threshold."
    ),
    "env.episodes": (
        "Suites only: the training budget of every variant on this env; null: the "
        "variants' own `episodes`."
    ),
    "tune.seeds": (
        "The **tuning seeds**: the search spaces are tried on them only. Disjoint from "
        "`seeds` (checked), so no reported number comes from a seed anything was chosen on."
    ),
    "tune.search": (
        "`tune.search.<variant>.<train key>`: a variant's search space. A list (a grid's axis, "
        "or a categorical choice; `{choices: [...]}` too), or a range `{low, high}` with "
        "`log: true` (log-uniform) or `step` (integers for an integer key). The variant does "
        "not set those keys itself; `article` cannot be tuned."
    ),
    "tune.sampler": (
        "`grid` (every combination of the lists; `trials: null`), `tpe` (Optuna's TPE; its "
        "first batch at random) or `random`."
    ),
    "tune.sampler_seed": "The sampler's seed: the same params give the same trials.",
    "tune.trials": "Trials per tuned variant (`tpe`, `random`); `grid`: null.",
    "tune.batch": (
        "Trials proposed together, trained in parallel (`compute`), told to the study in "
        "trial order: results do not depend on workers or backend."
    ),
    "tune.criterion": (
        "What a trial is chosen by, the IQM over the tuning seeds of: `mean-return` (each "
        "seed's mean training return over the budget: it does not tie at a return cap) or "
        "`final-return` (the report's evaluation return)."
    ),
    "tune.pruner": "`none`, `median` or `successive-halving` (Optuna's).",
    "tune.first_rung": (
        "The first rung, a fraction of the variant's budget: intermediate values every "
        "`first_rung` of it; trials are judged at `first_rung x reduction_factor^k`. A pruned "
        "trial trains its rung only, a survivor is retrained to the full budget."
    ),
    "tune.reduction_factor": (
        "Rungs `first_rung x reduction_factor^k` below the budget; successive halving keeps "
        "the top `1/reduction_factor` at each."
    ),
    "train.episodes": "Training episodes per seed.",
    "train.gamma": "Discount.",
    "train.lr": "Adam learning rate of the policy.",
    "train.hidden_dim": "Hidden units of the policy (and critic), with `hidden_sizes: null`.",
    "train.normalize_returns": "`(G - mean) / (std + 1e-9)` per episode.",
    "train.baseline": (
        "`none`, or `value`: a learned state-value critic, advantage `G_t - V(s_t)`, critic "
        "fit to `G_t` by MSE."
    ),
    "train.critic_lr": "Adam learning rate of the critic (with `baseline: value`).",
    "train.entropy_coef": "Entropy bonus subtracted from the loss.",
    "train.grad_clip_norm": "Clip the policy gradient's global norm (null: off).",
    "train.episodes_per_update": (
        "Episodes per update; the loss is the mean of their per-episode losses."
    ),
    "train.advantage": (
        "`returns` (Monte-Carlo, the article's) or `gae`: GAE(lambda) advantages bootstrapped "
        "from the critic (needs `baseline: value` and `normalize_returns: false`); at "
        "CartPole's 500-step cut it bootstraps from V(s_T), at a termination from 0."
    ),
    "train.gae_lambda": (
        "Lambda of GAE in [0, 1] (1: Monte-Carlo advantages `G_t - V(s_t)`, 0: one-step TD errors)."
    ),
    "train.normalize_advantages": "`(A - mean) / (std + 1e-9)` over each update's batch.",
    "train.update_epochs": "Passes over each update's episodes (or rollout).",
    "train.minibatches": "Minibatches each pass is cut into.",
    "train.clip_ratio": (
        "PPO's clipped objective with this epsilon (null: the plain `-log pi * A`)."
    ),
    "train.rollout_steps": (
        "null: each seed updates at its own episode ends. N: PPO's schedule: every seed plays "
        "exactly N env steps (episodes cut across rollouts, the cut bootstrapped from the "
        "critic), then all seeds update together, one batched torch call per minibatch. "
        "Needs `advantage: gae`, `minibatches` dividing N, `episodes_per_update: 1` and "
        "Discrete actions."
    ),
    "train.hidden_sizes": (
        "The hidden layers' widths, e.g. `[64, 64]` (CleanRL's and SB3's); null: one layer "
        "of `hidden_dim`."
    ),
    "train.activation": (
        "`relu` or `tanh`, after each hidden layer. The compiled actor covers one ReLU layer; "
        "other networks act through their torch modules (the stage says so)."
    ),
    "train.algorithm": (
        "A file of `reinforce/algos/` (its advantages and losses; "
        "[Tutorial 2](../algorithms.md)). `pg`, the policy-gradient family, is what every "
        "other `train` key configures."
    ),
    "evaluate.episodes": "Evaluation episodes per seed.",
    "evaluate.seed_offset": (
        "Seed k's evaluation env is reset with `seed_offset + k`: disjoint from every "
        "training seed (checked)."
    ),
    "evaluate.policy": "`greedy` (argmax, or the Gaussian's mean) or `sample`.",
    "report.ci": "Confidence of every interval.",
    "report.bootstrap_resamples": "Resamples of every bootstrap CI.",
    "report.bootstrap_seed": (
        "Seed of the bootstraps (with the names of what is compared, so adding a variant "
        "moves no other number)."
    ),
    "report.smoothing_window": "Episodes of the moving average of the learning-curve figure.",
    "compute.backend": "`local` (this machine's processes) or `ray` (Ray tasks).",
    "compute.workers": "local: processes that share a variant's seeds.",
    "compute.ray_address": (
        "ray: the cluster's head (`RAY_ADDRESS` wins); null: each stage starts its own Ray "
        "on 127.0.0.1."
    ),
    "compute.seeds_per_task": "ray: the seeds of each one-CPU task.",
    "random.seeds": (
        "The random policy's own seeds, disjoint from `seeds`, `tune.seeds` and the "
        "evaluation seeds (checked)."
    ),
    "random.episodes": "Episodes of the random policy per seed.",
}


def written(value) -> str:
    """A value as params.yaml writes it (bool lower case, None null, strings in code)."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`"


# Where the parser, not the dataclass, supplies a key's value when params.yaml leaves it
# out (reinforce/io/config.py, _parse_env).
PARSER_DEFAULTS = {"env.solved_threshold": "gymnasium's `spec.reward_threshold`"}


def default_of(key: str, field: dataclasses.Field) -> str:
    if key in PARSER_DEFAULTS:
        return PARSER_DEFAULTS[key]
    if field.default is not dataclasses.MISSING:
        return written(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return written(field.default_factory())
    return "required"


def committed(params: dict, section: str, key: str) -> str:
    values = params.get(section) or {}
    if key not in values:
        return ""
    value = values[key]
    if section == "tune" and key == "search":
        return ", ".join(f"`{name}`" for name in value)
    return written(value)


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def check_descriptions() -> None:
    keys = {
        f"{section}.{field.name}"
        for section, cls, _ in SECTIONS
        for field in dataclasses.fields(cls)
    }
    missing, stale = sorted(keys - set(DESCRIPTIONS)), sorted(set(DESCRIPTIONS) - keys)
    top = {f.name for f in dataclasses.fields(config.Config)} - {s for s, _, _ in SECTIONS}
    top -= {"suite_envs"}
    if missing or stale or top != set(TOP_LEVEL):
        raise SystemExit(
            "param_reference: descriptions out of step with reinforce/io/config.py: "
            f"missing {missing}, stale {stale}, top-level {sorted(top ^ set(TOP_LEVEL))}"
        )


def render() -> str:
    check_descriptions()
    params = yaml.safe_load(PARAMS.read_text())
    lines = [
        "# Parameter reference",
        "",
        "<!-- Generated by `python scripts/param_reference.py --write` from the dataclasses of",
        "     reinforce/io/config.py and params.yaml; do not edit by hand. -->",
        "",
        "Every number of the pipeline lives in `params.yaml`. **default** is the value a key "
        "takes when `params.yaml` leaves it out (the config dataclasses of "
        "`reinforce/io/config.py`); **params.yaml** is the committed default run's value "
        "where it writes the key.",
        "",
        "A bad value fails before any work (under `dvc repro`, in the `check` stage, before "
        "any output is removed) with one line naming the key, the value and what is allowed "
        "([Bad inputs](../errors.md)). An integer key written as an integral float (`16.0`, "
        "as `dvc exp run -S train.hidden_dim=16.0` writes it) is that integer; `16.5` is "
        "refused.",
        "",
        "## Top-level keys",
        "",
        "| key | params.yaml | meaning |",
        "|---|---|---|",
    ]
    for key, text in TOP_LEVEL.items():
        value = params.get(key)
        shown = ", ".join(f"`{v}`" for v in value) if key == "variants" and value else ""
        if key == "seeds" and value:
            shown = written(value)
        lines.append(f"| `{key}` | {cell(shown)} | {cell(text)} |")
    for section, cls, about in SECTIONS:
        lines += ["", f"## `{section}`", "", about, ""]
        lines += ["| key | default | params.yaml | meaning |", "|---|---|---|---|"]
        for field in dataclasses.fields(cls):
            key = f"{section}.{field.name}"
            lines.append(
                f"| `{key}` | {cell(default_of(key, field))} | "
                f"{cell(committed(params, section, field.name))} | {cell(DESCRIPTIONS[key])} |"
            )
    lines += [
        "",
        "## The default variants",
        "",
        "`article` (the tutorial, unchanged, never tuned: the reference of every comparison), "
        "`value-baseline` (a value critic, its `lr` chosen on the tuning seeds), `lr-1e-3` "
        "(`lr: 0.001`), `actor-critic` (GAE advantages, PPO-style epochs over each episode, "
        "300 episodes; `lr`, `critic_lr` and `gae_lambda` chosen on the tuning seeds) and "
        "`ppo` (the actor-critic's clipped loss on fixed-length rollouts of 256 steps, every "
        "seed updating at the same step in one batched call). Their values chosen by tuning "
        "are in `tuning/selected/<variant>.json` and in the report's Variants table.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the page")
    mode.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        PAGE.parent.mkdir(parents=True, exist_ok=True)
        PAGE.write_text(text)
        print(f"param_reference: wrote {PAGE.relative_to(ROOT)}")
        return 0
    if not PAGE.exists() or PAGE.read_text() != text:
        print(
            f"param_reference: {PAGE.relative_to(ROOT)} is stale; run "
            "`python scripts/param_reference.py --write` and commit it",
            file=sys.stderr,
        )
        return 1
    print(f"param_reference: {PAGE.relative_to(ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
