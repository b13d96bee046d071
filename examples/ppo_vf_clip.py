"""PPO with a clipped value loss: an algorithm the library does not have, in one file.

The worked example of docs/algorithms.md: copy this file to reinforce/algos/ppo_vf_clip.py,
name it in a variant of params.yaml (`algorithm: ppo_vf_clip`), and `dvc exp run`. Nothing
else changes: the variant gets its train, evaluate and report stages from DVC's foreach,
and the report's claims compare it with `article` on every metric.

CleanRL's ppo.py (clip_vloss) and SB3's PPO (clip_range_vf) clip the critic's update as
PPO clips the policy's: the new value may move at most clip_ratio away from the value
before the update, and the loss takes the larger of the clipped and unclipped squared
errors. The policy's side is the built-in family's (reinforce/algos/pg.py), reused as it is.
"""

from __future__ import annotations

import torch

from reinforce.algos import pg
from reinforce.algos.base import Batch

# the advantages and targets, and which networks it needs: pg's, unchanged
needs_critic = pg.needs_critic
targets = pg.targets


def losses(batch: Batch, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    policy_loss, _ = pg.losses(batch, cfg)
    values, old, target = batch.values, batch.old_values, batch.targets
    clipped = old + torch.clamp(values - old, -cfg.clip_ratio, cfg.clip_ratio)
    critic_loss = torch.maximum((values - target) ** 2, (clipped - target) ** 2).mean(-1)
    return policy_loss, critic_loss
