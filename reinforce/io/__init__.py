"""Inputs and outputs: params -> typed config (every bad value rejected), the errors a stage exits
with, atomic writes, the environment fingerprint, verify, and the stage entry glue (cli)."""
