"""Statistics above reinforce.stats: time-to-solve as censored data, the claims of the report."""
