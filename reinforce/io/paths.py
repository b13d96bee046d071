"""Every output path of the pipeline, stated once (dvc.yaml repeats them literally, as DVC
needs; tests/test_paths.py checks the two agree).

Paths are relative to the repository root, POSIX-style; a template holds `{variant}`.
The functions join a root and a variant name that must match names.SAFE_NAME, so a name
never climbs out of its folder."""

from __future__ import annotations

import re
from pathlib import Path

from reinforce.io.names import check_name

RUNS = "runs"
TRAIN_DIR = "runs/{variant}/train"
EVAL_DIR = "runs/{variant}/eval"
CURVES_FILE = "curves.csv"  # in TRAIN_DIR
EVAL_FILE = "eval.csv"  # in EVAL_DIR
POLICY_FILE = "policy_seed{seed}.pt"  # in TRAIN_DIR
POLICY_FILE_PATTERN = re.compile(r"policy_seed\d+\.pt")

TUNING = "tuning"
SEARCH = "tuning/search"
SEARCH_DIR = "tuning/search/{variant}"
RESULTS_FILE = "results.csv"  # in SEARCH_DIR
# tune@<variant>'s Optuna study, for optuna-dashboard: git- and DVC-ignored, no DVC
# output (its bytes hold the times the trials ran; results.csv holds every number used)
STUDY_FILE = "tuning/studies/{variant}.log"
SELECTED = "tuning/selected"
SELECTED_FILE = "tuning/selected/{variant}.json"
CANDIDATES = "tuning/candidates.csv"
PARAMS_CHECK = "tuning/params-check.json"

METRICS = "metrics.json"
REPORTS = "reports"
STATISTICS = "reports/statistics.json"
TABLES = "reports/tables"
FIGURES = "reports/figures"
REPORT = "reports/report.md"
PLOTS = "reports/plots"
VIDEOS_DIR = "reports/videos/{variant}"  # the videos stage's: one greedy episode, rendered
MEDIAN_VIDEO = "median.gif"  # in VIDEOS_DIR: the median seed by final return
STRIP_VIDEO = "strip.gif"  # in VIDEOS_DIR: the worst and the best seed side by side
LOGS = "logs"  # git-ignored wall-clock figures, never a DVC output

# A suite study (a params file with `envs`) keeps each env's single-env study, with the
# layout above, under its own folder of the suite's root: <root>/envs/<env id>/...
SUITE_ENVS = "envs/{env}"
RANDOM_DIR = "random"  # in an env's folder: the random policy's returns
RANDOM_FILE = "random.csv"  # in RANDOM_DIR

# Every top-level name a study's stages write under its root (a suite's: the env folders
# and its own reports): no symlink below them may lead outside the study
# (outputs.check_study_links).
STUDY_OUTPUTS = (RUNS, TUNING, REPORTS, METRICS, SUITE_ENVS.split("/")[0], RANDOM_DIR)


def _variant(template: str, root: str | Path, variant: str) -> Path:
    return Path(root) / template.format(variant=check_name("variant", variant))


def train_dir(root: str | Path, variant: str) -> Path:
    return _variant(TRAIN_DIR, root, variant)


def eval_dir(root: str | Path, variant: str) -> Path:
    return _variant(EVAL_DIR, root, variant)


def curves_path(root: str | Path, variant: str) -> Path:
    return train_dir(root, variant) / CURVES_FILE


def eval_path(root: str | Path, variant: str) -> Path:
    return eval_dir(root, variant) / EVAL_FILE


def videos_dir(root: str | Path, variant: str) -> Path:
    return _variant(VIDEOS_DIR, root, variant)


def policy_name(seed: int) -> str:
    return POLICY_FILE.format(seed=seed)


def search_dir(root: str | Path, variant: str) -> Path:
    return _variant(SEARCH_DIR, root, variant)


def results_path(root: str | Path, variant: str) -> Path:
    return search_dir(root, variant) / RESULTS_FILE


def study_path(root: str | Path, variant: str) -> Path:
    return _variant(STUDY_FILE, root, variant)


def selected_path(root: str | Path, variant: str) -> Path:
    return _variant(SELECTED_FILE, root, variant)


def env_root(root: str | Path, env_id: str) -> Path:
    """The folder of one env of a suite, holding that env's runs/, tuning/ and reports/."""
    return Path(root) / SUITE_ENVS.format(env=check_name("envs", env_id))


def random_path(root: str | Path) -> Path:
    return Path(root) / RANDOM_DIR / RANDOM_FILE


# The across-env report of a suite, under the suite's root (each env's own report stays
# in its env_root): reports/suite.md, reports/suite.json, reports/tables/, figures.
SUITE_REPORT = "reports/suite.md"
SUITE_STATISTICS = "reports/suite.json"
SUITE_TABLES = TABLES  # reports/tables/ of the suite's root, not of an env
SUITE_FIGURES = FIGURES
SUITE_FIGURE_NAMES = ("suite_curves.png", "suite_intervals.png", "suite_profiles.png")
