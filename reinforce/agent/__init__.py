"""The agent: the policy, training, evaluation, and tuning (candidates on tuning seeds) above
them."""
