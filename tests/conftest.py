import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import reinforce  # noqa: E402,F401  (pins the numeric path before torch/numpy load)


@pytest.fixture
def root() -> Path:
    return ROOT


def tiny_params(**overrides) -> dict:
    """Params small enough for a test: 2 seeds, a few episodes."""
    params = {
        "env": {"id": "CartPole-v1", "solved_threshold": 475, "solve_window": 5},
        "seeds": [0, 1],
        "train": {
            "episodes": 6,
            "gamma": 0.99,
            "lr": 0.01,
            "hidden_dim": 16,
            "normalize_returns": True,
            "baseline": "none",
            "critic_lr": 0.01,
            "entropy_coef": 0.0,
            "grad_clip_norm": None,
            "episodes_per_update": 1,
        },
        "variants": {"article": {"lr": 0.01}, "value-baseline": {"baseline": "value"}},
        "tune": {
            "seeds": [10, 11],
            "search": {"value-baseline": {"lr": [0.01, 0.02]}},
            "sampler": "grid",
            "sampler_seed": 0,
            "trials": None,
            "batch": 2,
            "criterion": "mean-return",
            "pruner": "none",
            "first_rung": 0.5,
            "reduction_factor": 3,
        },
        "evaluate": {"episodes": 2, "seed_offset": 1000000, "policy": "greedy"},
        "report": {
            "ci": 0.95,
            "bootstrap_resamples": 200,
            "bootstrap_seed": 0,
            "smoothing_window": 2,
        },
        "compute": {"workers": 1},
    }
    for key, value in overrides.items():
        params[key] = value
    if "tune" not in overrides:  # keep only the searches of variants that are there
        search = {
            name: space
            for name, space in params["tune"]["search"].items()
            if name in params["variants"]
        }
        params["tune"] = {**params["tune"], "search": search}
    return params


os.environ.setdefault("MPLBACKEND", "Agg")


# `pytest -m "not slow"`, the inner loop (pyproject.toml's markers): every unit and
# equivalence test. Slow: whatever runs the real pipeline or whole processes of it, found
# here rather than marked by hand so that a new end-to-end test cannot slip into the quick
# loop: the files that are end-to-end throughout, the tests that use a fixture building a
# DVC project, and the tests that build one themselves or run dvc or a stage's process.
SLOW_FILES = {
    "test_pipeline.py",
    "test_suite_pipeline.py",
    "test_experiments.py",
    "test_interrupts.py",
    "test_ray.py",
    "test_remote.py",
    "test_verify.py",
    "test_startup.py",  # fresh interpreters, each importing the pipeline from nothing
}
PROJECT_FIXTURES = {"project", "restore", "moved_out", "tuned_project", "reader_project"}
END_TO_END_CALLS = ("make_project(", '["dvc"', "'dvc'", "python_stdout(", '"-m", "stages.')


def _runs_the_pipeline(item) -> bool:
    import inspect

    if item.path.name in SLOW_FILES or PROJECT_FIXTURES & set(item.fixturenames):
        return True
    try:
        source = inspect.getsource(item.function)
    except (OSError, TypeError):
        return False
    return any(call in source for call in END_TO_END_CALLS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _runs_the_pipeline(item):
            item.add_marker(pytest.mark.slow)


PROJECT_FILES = [
    "dvc.yaml",
    "dvc_templates",
    "reinforce",
    "stages",
    ".dvcignore",
    ".gitignore",
    "tuning/search/README.md",
]


def make_project(path: Path, params: dict) -> Path:
    """A fresh git + DVC repository at path holding the pipeline and the given params."""
    import shutil

    import yaml

    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], path)
    run(["git", "config", "user.email", "test@example.com"], path)
    run(["git", "config", "user.name", "test"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "config", "core.analytics", "false"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "project"], path)
    return path


def run(command: list[str], cwd: Path, check: bool = True, **kwargs):
    import subprocess

    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": ""}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def tree_bytes(path: Path, *folders: str) -> dict[str, bytes]:
    """Every file under the given folders of path, by relative name."""
    files = {}
    for folder in folders:
        base = path / folder
        candidates = [base] if base.is_file() else sorted(base.rglob("*"))
        for file in candidates:
            if file.is_file():
                files[str(file.relative_to(path))] = file.read_bytes()
    return files


def assert_refused(params: dict, words: list[str]) -> None:
    """parse_config refuses params with one line holding every word (the key, the value,
    what is allowed)."""
    from reinforce.io.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config(params)
    message = str(caught.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"
