"""Analysis of the training outputs: estimators, tests, aggregation across seeds, the selection
rule (stats.py), time-to-solve as censored data and the claims (survival.py, claims.py) and the
report (report.py). Never imported by code that makes the training bytes except for tuning's
selection rule and solve detection."""
