"""curves.csv written without pandas: the bytes pandas' to_csv gives (reinforce/io/outputs.py)."""

import dataclasses

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reinforce.agent.train import train_variant
from reinforce.io.config import TrainConfig
from reinforce.io.outputs import CURVE_COLUMNS, curves_csv


def pandas_csv(rows) -> str:
    """How the train stage wrote curves.csv before (stages/train.py)."""
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS)).to_csv(index=False, float_format="%.9g")


def test_a_trained_variants_curves_are_pandas_bytes():
    # episodes_per_update 2: NaN losses between the updates, as in a sweep's variants
    cfg = dataclasses.replace(TrainConfig(), episodes=7, hidden_dim=8, episodes_per_update=2)
    result = train_variant(cfg, "CartPole-v1", [0, 1, 2])
    assert any(row[-1] != row[-1] for row in result.rows)  # a NaN loss among them
    assert curves_csv(result.rows) == pandas_csv(result.rows)
    assert curves_csv(result.rows) == result.curves.to_csv(index=False, float_format="%.9g")


def test_no_rows_is_the_header_alone():
    assert curves_csv([]) == pandas_csv([]) == "seed,episode,return,length,loss\n"


INT = st.integers(-(2**62), 2**62)
FLOAT = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(INT, INT, FLOAT, INT, FLOAT), max_size=6))
def test_any_ints_and_floats_are_pandas_bytes(rows):
    assert curves_csv(rows) == pandas_csv(rows)
