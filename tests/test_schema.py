"""reinforce/analysis/schema.py is the shape of metrics.json and reports/statistics.json:
the committed files and a fresh aggregate validate against it, and docs/report.md names
every key it types."""

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest

from reinforce.analysis import schema
from reinforce.io import paths

ROOT = Path(__file__).resolve().parent.parent


def validate(instance, which: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(which)
    jsonschema.Draft202012Validator(which).validate(instance)


def committed(path: str) -> dict:
    return json.loads((ROOT / path).read_text())


def test_the_committed_statistics_and_metrics_match_the_schema():
    validate(committed(paths.STATISTICS), schema.STATISTICS)
    validate(committed(paths.METRICS), schema.METRICS)


def test_the_schema_rejects_a_renamed_or_missing_key():
    statistics = committed(paths.STATISTICS)
    name = next(iter(statistics["variants"]))
    renamed = copy.deepcopy(statistics)
    renamed["variants"][name]["final_ret"] = renamed["variants"][name].pop("final_return")
    with pytest.raises(jsonschema.ValidationError):
        validate(renamed, schema.STATISTICS)
    missing = copy.deepcopy(statistics)
    del missing["tests"]["alpha"]
    with pytest.raises(jsonschema.ValidationError, match="alpha"):
        validate(missing, schema.STATISTICS)
    metrics = committed(paths.METRICS)
    metrics[name]["seeds"] = 10  # the headline says n_seeds
    with pytest.raises(jsonschema.ValidationError):
        validate(metrics, schema.METRICS)


def test_the_headline_keys_are_the_metrics_keys():
    metrics = committed(paths.METRICS)
    for entry in metrics.values():
        assert set(entry) - {"chosen"} == set(schema.HEADLINE)


def documented_keys() -> set[str]:
    """Every dotted part of every `code span` of docs/report.md."""
    text = (ROOT / "docs" / "report.md").read_text()
    spans = re.findall(r"`([^`\n]+)`", text)
    return {part.strip("*") for span in spans for part in re.split(r"[.\s(),]+", span)}


def test_docs_report_names_every_key_of_the_schema():
    keys = (
        set(schema.STATISTICS["properties"])
        | set(schema.TESTS["properties"])
        | set(schema.CLAIM["properties"])
        | set(schema.VARIANT["properties"])
        | set(schema.METRICS["additionalProperties"]["properties"])
    )
    assert keys - documented_keys() == set()


def test_a_fresh_aggregate_with_one_seed_and_nulls_matches_the_schema(tmp_path, monkeypatch):
    from test_stats import write_params, write_runs

    from reinforce.analysis.claims import aggregate_outputs
    from reinforce.io.config import load_config

    # hand-written runs (one seed beside three) that the pipeline's check would refuse
    monkeypatch.setattr("reinforce.analysis.stats.check_runs", lambda *args: None)
    write_params(tmp_path, {"article": {}, "tuned": {"lr": 0.5}, "single": {}})
    write_runs(tmp_path, "article", {s: [10.0 * s] * 20 for s in range(3)}, {0: [1.0], 1: [2.0]})
    write_runs(tmp_path, "tuned", {s: [200.0] * 20 for s in range(3)}, {0: [150.0], 1: [3.0]})
    write_runs(tmp_path, "single", {0: [1.0] * 20}, {0: [1.0]})
    config = load_config(tmp_path / "params.yaml", check_env=False)
    outputs = aggregate_outputs(config, tmp_path)
    validate(json.loads(outputs[paths.STATISTICS]), schema.STATISTICS)
    validate(json.loads(outputs[paths.METRICS]), schema.METRICS)
