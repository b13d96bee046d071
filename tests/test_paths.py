"""dvc.yaml states its data paths literally (DVC needs them); they are the paths that
reinforce/io/paths.py states, rendered with DVC's `${key}` for the variant."""

from pathlib import Path

import pytest
import yaml

from reinforce.io import paths
from reinforce.io.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())

# Every data path paths.py states: the templates rendered with DVC's variable.
STATED = {
    template.format(variant="${key}")
    for template in (
        paths.RUNS,
        paths.TRAIN_DIR,
        paths.EVAL_DIR,
        paths.TUNING,
        paths.SEARCH,
        paths.SEARCH_DIR,
        paths.SELECTED,
        paths.SELECTED_FILE,
        paths.CANDIDATES,
        paths.PARAMS_CHECK,
        paths.METRICS,
        paths.STATISTICS,
        paths.TABLES,
        paths.FIGURES,
        paths.REPORT,
        paths.PLOTS,
        paths.VIDEOS_DIR,
    )
}
# Folders whose files the report names itself (a figure, a plot's CSV).
FILE_FOLDERS = {paths.FIGURES, paths.PLOTS}


def _names(entries) -> list[str]:
    """The paths of a list of dvc.yaml entries (a string, or a one-key mapping)."""
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries or ()]


def declared() -> dict[str, list[str]]:
    """{path: [where dvc.yaml declares it]} for every data dep, out, metric and plot."""
    found: dict[str, list[str]] = {}
    for stage, spec in DVC["stages"].items():
        body = spec.get("do", spec)
        for kind in ("deps", "outs", "metrics", "plots"):
            for name in _names(body.get(kind)):
                found.setdefault(name, []).append(f"{stage}.{kind}")
    for name in _names(DVC.get("plots")):
        found.setdefault(name, []).append("plots")
    return found


def is_code(name: str) -> bool:
    return name.endswith(".py") or name.split("/")[0] in ("reinforce", "stages")


def test_every_data_path_of_dvc_yaml_is_stated_in_paths():
    unstated = {
        name: where
        for name, where in declared().items()
        if not is_code(name) and name not in STATED and str(Path(name).parent) not in FILE_FOLDERS
    }
    assert unstated == {}


def test_every_output_paths_states_is_declared_in_dvc_yaml():
    names = set(declared())
    assert STATED - names == set()


def test_outputs_are_where_paths_says():
    found = declared()
    outs = {name for name, where in found.items() if any(w.endswith(".outs") for w in where)}
    assert {
        paths.PARAMS_CHECK,
        paths.SEARCH_DIR.format(variant="${key}"),
        paths.SELECTED,
        paths.CANDIDATES,
        paths.TRAIN_DIR.format(variant="${key}"),
        paths.EVAL_DIR.format(variant="${key}"),
        paths.STATISTICS,
        paths.TABLES,
        paths.FIGURES,
        paths.REPORT,
        paths.PLOTS,
        paths.VIDEOS_DIR.format(variant="${key}"),
    } == outs
    assert "aggregate.metrics" in found[paths.METRICS]


def test_the_functions_render_the_templates_under_a_root(tmp_path):
    assert paths.train_dir(tmp_path, "a") == tmp_path / "runs/a/train"
    assert paths.curves_path(".", "a") == Path("runs/a/train/curves.csv")
    assert paths.eval_path(".", "b_1") == Path("runs/b_1/eval/eval.csv")
    assert paths.results_path(".", "a") == Path("tuning/search/a/results.csv")
    assert paths.selected_path(".", "a") == Path("tuning/selected/a.json")
    assert paths.POLICY_FILE_PATTERN.fullmatch(paths.policy_name(3))
    assert paths.policy_name(3) == "policy_seed3.pt"


@pytest.mark.parametrize("name", ["../x", "a/b", "", "-x", "${key}"])
def test_an_unsafe_variant_name_never_becomes_a_path(name):
    with pytest.raises(ConfigError, match="variant"):
        paths.train_dir(".", name)


def test_every_data_path_of_the_suite_is_a_stated_path_under_an_env_folder():
    """studies/suite/dvc.yaml's paths are the single-env study's, under the suite's root
    (params-check) or under an env's folder (paths.SUITE_ENVS), plus the random policy's."""
    suite = yaml.safe_load((ROOT / "studies/suite/dvc.yaml").read_text())
    root = "studies/suite/"
    env_folders = [root + paths.SUITE_ENVS.format(env=e) + "/" for e in ("${item.env}", "${key}")]
    stated = STATED | {
        f"{paths.RANDOM_DIR}/{paths.RANDOM_FILE}",
        paths.SUITE_ENVS.split("/")[0],  # suite_report reads every env's folder
        paths.SUITE_REPORT,
        paths.SUITE_STATISTICS,
    }
    unstated = []
    for stage, spec in suite["stages"].items():
        body = spec.get("do", spec)
        for kind in ("deps", "outs", "metrics"):
            for name in _names(body.get(kind)):
                if is_code(name):
                    continue
                relative = next(
                    (name[len(f) :] for f in env_folders if name.startswith(f)),
                    name[len(root) :] if name.startswith(root) else None,
                )
                generic = (
                    None if relative is None else relative.replace("${item.variant}", "${key}")
                )
                if generic not in stated:
                    unstated.append(f"{stage}.{kind}: {name}")
    assert unstated == []
