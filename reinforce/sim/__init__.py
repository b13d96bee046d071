"""Simulation: the environments, their compiled steps (_kernels.py), the lockstep rollout and
Episode."""
