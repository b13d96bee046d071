"""The agent: the policy, training, evaluation, and tuning (candidates on tuning seeds) above
them."""

# The article's normalization, (x - mean) / (std + NORMALIZE_EPS), of returns (train.py)
# and of advantages (train.py, rollouts.py): stated once, here, below both.
NORMALIZE_EPS = 1e-9
