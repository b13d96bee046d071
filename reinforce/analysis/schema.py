"""The shape of metrics.json and reports/statistics.json, as JSON Schema (draft 2020-12),
typed once: tests/test_schema.py validates the committed files against it and checks that
docs/report.md names every key. A plain dict, so nothing here needs jsonschema."""

from __future__ import annotations

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# metrics.json: per variant, the headline numbers (the path of each in statistics.json).
# Short flat names keep `dvc exp show` columns narrow; n_seeds, not seeds, so that a
# pattern for the metric does not also match a parameter such as tune.seeds.
HEADLINE = {
    "iqm": ("final_return", "iqm"),
    "iqm_low": ("final_return", "iqm_ci_low"),
    "iqm_high": ("final_return", "iqm_ci_high"),
    "solve_rate": ("solve_rate",),
    "episodes_to_solve": ("episodes_to_solve", "median"),
    "n_seeds": ("seeds",),
    "steps_to_solve": ("time_to_solve", "env_steps", "median"),
}

# null: a number its data does not define (one seed, never solved; docs/report.md)
NUMBER = {"type": ["number", "null"]}
COUNT = {"type": "integer", "minimum": 0}
OBJECT = {"type": "object"}
# {train key: value} the tuning chose, for a tuned variant only
CHOSEN = {"type": "object", "minProperties": 1}


def _record(fields: dict, optional: tuple[str, ...] = ()) -> dict:
    """An object with exactly these keys (those in `optional` may be absent)."""
    return {
        "type": "object",
        "properties": fields,
        "required": sorted(set(fields) - set(optional)),
        "additionalProperties": False,
    }


def _centres(*extra: str) -> dict:
    """IQM, mean and median with their bootstrap CIs (and `extra` counts)."""
    fields = {
        f"{centre}{suffix}": NUMBER
        for centre in ("iqm", "mean", "median")
        for suffix in ("", "_ci_low", "_ci_high")
    }
    return _record({**fields, **{name: {"type": ["integer", "null"]} for name in extra}})


ESTIMATE = _record({"value": NUMBER, "ci_low": NUMBER, "ci_high": NUMBER})

VARIANT = _record(
    {
        "seeds": COUNT,
        "final_return": _centres("at_ceiling"),
        "auc": _centres(),
        "solve_rate": NUMBER,
        "episodes_to_solve": _record({"median": NUMBER, "solved_seeds": COUNT}),
        "time_to_solve": _record(
            {unit: OBJECT for unit in ("episodes", "env_steps", "gradient_steps")}
        ),
        "cost": _record(
            {
                "env_steps": COUNT,
                "env_steps_per_seed": NUMBER,
                "episodes_per_seed": NUMBER,
                "gradient_steps": COUNT,
                "gradient_steps_per_seed": NUMBER,
            }
        ),
        "chosen": CHOSEN,
        "p_improve": ESTIMATE,
        "comparison": OBJECT,
        "claims": OBJECT,
    },
    optional=("chosen", "p_improve", "comparison", "claims"),  # the reference has none
)

TESTS = _record(
    {
        "reference": {"type": "string"},
        "alpha": NUMBER,
        "power": NUMBER,
        "correction": {"type": "string"},
        "family_size": COUNT,
        "family": {"type": "string"},
        "ceiling": NUMBER,
    }
)

CLAIM = _record(
    {
        "variant": {"type": "string"},
        "metric": {"type": "string"},
        "test": {"type": "string"},
        "effect": {"type": "string"},
        "effect_value": NUMBER,
        "effect_ci_low": NUMBER,
        "effect_ci_high": NUMBER,
        "p": NUMBER,
        "p_holm": NUMBER,
        "significant": {"type": ["boolean", "null"]},
        "verdict": {"type": "string"},
        "statistic": NUMBER,  # the logrank tests' only
    },
    optional=("statistic",),
)

STATISTICS = {
    "$schema": DRAFT,
    "title": "reports/statistics.json",
    **_record(
        {
            "tests": TESTS,
            "claims": {"type": "array", "items": CLAIM},
            "variants": {"type": "object", "additionalProperties": VARIANT},
        }
    ),
}

METRICS = {
    "$schema": DRAFT,
    "title": "metrics.json",
    "type": "object",
    "additionalProperties": _record(
        {
            **{key: COUNT if key == "n_seeds" else NUMBER for key in HEADLINE},
            "chosen": CHOSEN,
        },
        optional=("chosen", *HEADLINE),  # a headline number absent: not computed
    ),
}
