"""Tuning on tuning seeds: an Optuna study per tuned variant, its trials trained on them.

The protocol (docs/report.md, "Tuning"):

    tune@<variant>   Optuna proposes trials (tune.sampler: every combination of a grid,
                     or TPE / random draws from lists and ranges, seeded), each trained
                     on tune.seeds; the pruner stops the weak ones at rungs of the budget:
                     tuning/search/<variant>/results.csv, a row per trial and seed
    select           the selection rule (reinforce/agent/selection.py) picks one
                     trial per tuned variant:
                     tuning/selected/<variant>.json (every variant has one; an untuned
                     variant's is empty), tuning/candidates.csv
    train@<variant>  trains the variant with its selected values on the reporting seeds

Tuning seeds and reporting seeds are disjoint (config.py checks it), so no reported
number comes from a seed that anything was chosen on.

Determinism: the sampler is seeded; trials are asked in batches of tune.batch, a batch's
trainings run in parallel (workers or Ray: each is a trial on all tuning seeds in one
process, and a seed's training is the same bytes wherever it runs), and the results are
reported and told to the study in trial order, never in the order they finish. So the
same params give the same trials, the same selection and the same bytes for any worker
count and backend.

Pruning trains less, honestly: a batch's trials first train only the first rung's
episodes; the pruner (Optuna's median or successive-halving rule) judges each on its
intermediate value there, and only the survivors are trained again, from their first
episode, to the next rung and at last to the full budget. A seed's first episodes do not
depend on how many follow (each run checks it: a survivor's longer run must repeat its
rung run's returns), so a trial's intermediate values are the same whichever run gave
them. The rerun of a survivor's first episodes is the price of not resuming a run.

The value of a trial is stats.trial_value (the IQM over the tuning seeds) of the
criterion's per-seed measure (stats.CRITERION_WORDS); intermediate values are the same
IQM of each seed's mean training return over the episodes so far, one per block of
tune.first_rung of the budget.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from reinforce.agent.evaluate import evaluate_seeds
from reinforce.agent.selection import candidates
from reinforce.agent.train import train_seeds
from reinforce.analysis import stats
from reinforce.analysis.tuning_checks import distributions
from reinforce.compute.backends import LocalBackend, RayBackend
from reinforce.compute.workers import Progress, Report
from reinforce.io.config import Config, TrainConfig, TuneConfig
from reinforce.io.errors import ConfigError
from reinforce.io.inputs import TUNING_RESULT_COLUMNS
from reinforce.sim.envs import check_env_id


@dataclasses.dataclass
class Search:
    """What tune_variant found: results.csv's rows and the Optuna study they were told to."""

    results: pd.DataFrame
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    episodes_trained: int  # per tuning seed, over every trial and rung run
    episodes_unpruned: int  # what the same trials would train without pruning

    def work_line(self) -> str:
        trials = self.results.drop_duplicates("trial")
        pruned = int((trials["state"] == "pruned").sum())
        return (
            f"{len(trials)} trials, {pruned} pruned; {self.episodes_trained} episodes per "
            f"tuning seed trained, against {self.episodes_unpruned} without pruning"
        )


def make_sampler(tune: TuneConfig) -> optuna.samplers.BaseSampler:
    """The seeded sampler. TPE draws its first batch at random (n_startup_trials): with
    Optuna's default of 10 a search of about 10 trials would be random search."""
    if tune.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=tune.sampler_seed, n_startup_trials=tune.batch)
    # grid: every trial is enqueued with its values; random: uniform (log-uniform) draws
    return optuna.samplers.RandomSampler(seed=tune.sampler_seed)


def make_pruner(tune: TuneConfig, episodes: int) -> optuna.pruners.BasePruner:
    """The pruner, judging a trial at tune.rungs(episodes) only (its intermediate values
    per block are reported first, then it is asked once at the rung)."""
    if tune.pruner == "median":
        # against the median of the completed trials at the same step: the first batch,
        # which has none to compare with, runs in full
        return optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0)
    if tune.pruner == "successive-halving":
        # Asynchronous successive halving: a trial goes on when its value at a rung is in
        # the top 1/reduction_factor of every value reported at that rung so far.
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=tune.block(episodes),
            reduction_factor=tune.reduction_factor,
            min_early_stopping_rate=0,
        )
    return optuna.pruners.NopPruner()


def tune_variant(
    config: Config,
    name: str,
    backend: LocalBackend | RayBackend | None = None,
    label: str | None = None,
) -> Search:
    """Run the variant's Optuna study on tune.seeds. results: a row per trial and seed
    (result_columns: the searched keys after `episodes`), trials in order."""
    space = config.search_space(name)
    if not space:
        raise ConfigError(
            f"tune.search: no search space for variant {name!r}; variants "
            f"with one: {', '.join(sorted(config.tune.search)) or 'none'}"
        )
    tune, base = config.tune, config.variant(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the stage prints its own lines
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        sampler=make_sampler(tune),
        pruner=make_pruner(tune, base.episodes),
    )
    study.set_user_attr("criterion", stats.selection_rule(tune.criterion))
    study.set_user_attr("tuning_seeds", list(tune.seeds))
    if tune.sampler == "grid":
        grid = candidates(space)
        for values in grid:
            study.enqueue_trial(values)
        total = len(grid)
    else:
        total = tune.trials
    runner = TrialRunner(config, name, backend or LocalBackend(1), label or f"tune@{name}")
    dists = distributions(space)
    rows: list[dict] = []
    for start in range(0, total, tune.batch):
        batch = [study.ask(dists) for _ in range(min(tune.batch, total - start))]
        rows += runner.run_batch(study, batch, base)
    return Search(
        episodes_trained=runner.episodes_trained,
        episodes_unpruned=runner.episodes_unpruned,
        results=pd.DataFrame(rows, columns=result_columns(list(space))).astype(
            {"episodes_to_solve": "Int64"}
        ),
        study=study,
        storage=storage,
    )


def result_columns(keys: Sequence[str]) -> list[str]:
    """results.csv's columns: inputs.TUNING_RESULT_COLUMNS, the searched keys after episodes."""
    fixed = list(TUNING_RESULT_COLUMNS)
    return [*fixed[:3], *keys, *fixed[3:]]


class TrialRunner:
    """Trains a batch of trials rung by rung, reports and tells them in trial order."""

    def __init__(self, config: Config, name: str, backend, label: str):
        self.config, self.name, self.backend, self.label = config, name, backend, label
        self.seeds = list(config.tune.seeds)
        self.reported: dict[int, int] = {}  # trial number -> last step reported
        self.returns: dict[int, dict[int, list[float]]] = {}  # trial -> seed -> its returns
        self.episodes_trained = self.episodes_unpruned = 0

    def run_batch(self, study: optuna.Study, batch: list, base: TrainConfig) -> list[dict]:
        tune, env = self.config.tune, self.config.env
        alive, rows = list(batch), []
        self.episodes_unpruned += sum(
            dataclasses.replace(base, **trial.params).episodes for trial in batch
        )
        for budget in [*tune.rungs(base.episodes), None]:  # None: the full budget
            configs = [dataclasses.replace(base, **trial.params) for trial in alive]
            if budget is not None:
                configs = [dataclasses.replace(cfg, episodes=budget) for cfg in configs]
            runs = self.train(configs, [t.number for t in alive], final=budget is None)
            survivors = []
            for trial, cfg, (returns, finals) in zip(alive, configs, runs):
                self.report(trial, returns, cfg.episodes, tune.block(base.episodes))
                pruned = budget is not None and trial.should_prune()
                if budget is not None and not pruned:
                    survivors.append(trial)
                    continue
                state = "pruned" if pruned else "complete"
                for seed in self.seeds:
                    curve = np.asarray(returns[seed], dtype=float)
                    rows.append(
                        {
                            "trial": trial.number,
                            "state": state,
                            "episodes": cfg.episodes,
                            **trial.params,
                            "seed": seed,
                            "mean_return": float(curve.mean()),
                            "final_return": None if finals is None else finals[seed],
                            "episodes_to_solve": stats.episodes_to_solve(
                                curve, env.solve_window, env.solved_threshold
                            ),
                        }
                    )
                if pruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    column = stats.CRITERION_COLUMNS[tune.criterion]
                    mine = [r[column] for r in rows if r["trial"] == trial.number]
                    study.tell(trial, stats.trial_value(mine))
            alive = survivors
            if not alive:
                break
        return sorted(rows, key=lambda r: (r["trial"], self.seeds.index(r["seed"])))

    def report(self, trial, returns: dict, episodes: int, block: int) -> None:
        """Intermediate values: at each block's end (and the budget's), the IQM over the
        seeds of each one's mean training return so far; steps reported before (by a
        shorter run of the trial) must come out the same and are not reported again."""
        before = self.returns.get(trial.number)
        if before is not None:
            for seed in self.seeds:
                if returns[seed][: len(before[seed])] != before[seed]:
                    raise RuntimeError(
                        f"{self.label}: trial {trial.number}, seed {seed}: the longer run "
                        "did not repeat the rung's episodes; pruning would be unsound"
                    )
        self.returns[trial.number] = returns
        steps = sorted({*range(block, episodes + 1, block), episodes})
        for step in steps:
            if step <= self.reported.get(trial.number, 0):
                continue
            value = stats.trial_value([np.mean(returns[seed][:step]) for seed in self.seeds])
            trial.report(value, step)
            self.reported[trial.number] = step

    def train(self, configs: list[TrainConfig], numbers: list[int], final: bool) -> list:
        """Each config on all tuning seeds, the configs shared by the backend's workers:
        [(seed -> training returns, seed -> final return or None)] in configs' order."""
        evaluate = final and self.config.tune.criterion == "final-return"
        self.episodes_trained += sum(cfg.episodes for cfg in configs)
        episodes = sum(cfg.episodes for cfg in configs) * len(self.seeds)
        first, last = numbers[0], numbers[-1]
        label = (
            f"{self.label}: trial{'s' if first != last else ''} {first}"
            f"{f'-{last}' if first != last else ''}, "
            f"{'full budget' if final else f'rung of {configs[0].episodes} episodes'}"
        )
        # The unit of work is one trial on one tuning seed (unit = trial index x seeds +
        # the seed's place), so that the few survivors of a rung still fill every worker.
        groups = self.backend.map(
            partial(train_trials, self.config, configs, evaluate),
            list(range(len(configs) * len(self.seeds))),
            Progress(label, episodes),
        )
        out: dict[int, tuple[dict, dict | None]] = {}
        for index, (returns, finals) in (item for group in groups for item in group):
            mine = out.setdefault(index, ({}, None if finals is None else {}))
            mine[0].update(returns)
            if finals is not None:
                mine[1].update(finals)
        return [out[index] for index in range(len(configs))]


def train_trials(
    config: Config,
    configs: Sequence[TrainConfig],
    evaluate: bool,
    units: Sequence[int],
    report: Report,
) -> list[tuple[int, tuple[dict, dict | None]]]:
    """The units (trial index x len(tune.seeds) + the seed's place) in this process: each
    trial's seeds among them side by side, the trials one after the other (report() once
    per training episode); evaluated as the report evaluates (evaluate.*) when `evaluate`.
    A seed's run is the same bytes whichever seeds share its process."""
    env, all_seeds = config.env, list(config.tune.seeds)
    obs_dim, n_actions = check_env_id(env.id)
    trials: dict[int, list[int]] = {}
    for unit in units:
        trials.setdefault(unit // len(all_seeds), []).append(all_seeds[unit % len(all_seeds)])
    out = []
    for index, seeds in trials.items():
        rows, checkpoints, _ = train_seeds(
            configs[index], env.id, obs_dim, n_actions, seeds, report
        )
        returns: dict[int, list[tuple[int, float]]] = {seed: [] for seed in seeds}
        for seed, episode, episode_return, *_ in rows:
            returns[seed].append((episode, float(episode_return)))
        returns = {seed: [r for _, r in sorted(pairs)] for seed, pairs in returns.items()}
        finals = None
        if evaluate:
            evaluation = evaluate_seeds(
                checkpoints, env.id, config.evaluate, seeds, lambda episode_return: None
            )
            finals = {
                seed: float(np.mean([r for s, _, r in evaluation if s == seed])) for seed in seeds
            }
        out.append((index, (returns, finals)))
    return out


def results_csv(results: pd.DataFrame) -> str:
    """results.csv's text (stats.table_csv), the searched keys' floats written exactly
    (repr, which reads back to the same float), so the chosen value is the trained one."""
    exact = results.copy()
    keys = [c for c in results.columns if c not in TUNING_RESULT_COLUMNS]
    for key in keys:
        exact[key] = [
            repr(float(v)) if isinstance(v, float) and not pd.isna(v) else v for v in exact[key]
        ]
    return stats.table_csv(exact)


def write_study(search: Search, path: Path) -> None:
    """The study as an Optuna journal file that optuna-dashboard opens (`optuna-dashboard
    <path>`), written whole or not at all. It records when each trial ran, so its bytes
    differ on every run: it is no DVC output and outside the byte promise (README,
    "Parameters"); results.csv holds every number the pipeline uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        journal = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp))
        )
        name = search.study.study_name
        optuna.copy_study(
            from_study_name=name,
            from_storage=search.storage,
            to_storage=journal,
            to_study_name=name,
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
