"""A seed's trained policy as a file other tools run: ONNX (onnxruntime) or TorchScript.

The exported graph maps a batch of raw observations, float32 (batch, obs_dim), to the
action the pipeline's greedy evaluation plays: the argmax of the logits (int64, batch) for
Discrete actions, the Gaussian's mean clipped to the action space's bounds (float32,
batch x action_dim) for Box actions, as the env step clips it (reinforce/sim/rollout.py).
The pipeline normalizes no observation (the policy reads the env's observation as it is),
so the graph holds no normalization either. The network comes from load_policy and is
used through its forward alone, so any network it returns exports the same way.

Metadata (env id, spaces, variant, seed, code version, the action head) goes into the
ONNX model's metadata_props, into a TorchScript file's extra file `metadata.json`, and
into a JSON sidecar beside either (<out>.json).
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import torch
from torch import nn

from reinforce.agent.play import is_gaussian
from reinforce.agent.policy import load_policy
from reinforce.internals import load_deferred
from reinforce.io.env_ids import env_spaces
from reinforce.io.outputs import write_atomic

FORMATS = ("onnx", "torchscript")
INPUT, OUTPUT = "observation", "action"
OPSET = 17


class GreedyActions(nn.Module):
    """observation (batch, obs_dim) float32 -> the greedy action of the pipeline."""

    def __init__(self, policy: nn.Module, low=None, high=None):
        super().__init__()
        self.policy = policy
        self.gaussian = is_gaussian(policy)
        if self.gaussian:
            self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        out = self.policy(observation)
        if self.gaussian:
            return torch.minimum(torch.maximum(out, self.low), self.high)
        return torch.argmax(out, dim=-1)


def code_version() -> str:
    """`git describe --always --dirty` of this checkout, else the installed package's
    version, else "unknown"."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib import metadata

    try:
        return metadata.version("reinforce-seeds")
    except metadata.PackageNotFoundError:
        return "unknown"


def export_metadata(meta: dict, env_id: str, variant: str, seed: int, fmt: str) -> dict:
    obs_space, act_space = env_spaces(env_id)
    gaussian = meta.get("policy_head") == "gaussian"
    return {
        "format": fmt,
        "env_id": env_id,
        "observation_space": str(obs_space),
        "action_space": str(act_space),
        "variant": variant,
        "seed": seed,
        "code_version": code_version(),
        "input": f"{INPUT}: float32 (batch, {meta['obs_dim']}), the raw observation "
        "(the pipeline normalizes none)",
        "output": (
            f"{OUTPUT}: float32 (batch, {meta['n_actions']}), the Gaussian's mean clipped "
            "to the action bounds (greedy evaluation's action)"
            if gaussian
            else f"{OUTPUT}: int64 (batch,), the argmax of the {meta['n_actions']} logits "
            "(greedy evaluation's action)"
        ),
        "hidden_dim": meta.get("hidden_dim"),
    }


def greedy_module(checkpoint: Path, env_id: str) -> tuple[GreedyActions, dict]:
    policy, meta = load_policy(checkpoint)
    policy.eval()
    if is_gaussian(policy):
        space = env_spaces(env_id)[1]
        return GreedyActions(policy, space.low, space.high), meta
    return GreedyActions(policy), meta


def export_policy(
    checkpoint: Path, env_id: str, variant: str, seed: int, fmt: str, out: Path
) -> dict:
    """Write the checkpoint's greedy policy to out (fmt: onnx or torchscript) and its
    metadata to out + ".json"; returns the metadata."""
    # A stage's process defers torch.export and the meta kernels (reinforce/internals.py); the
    # exporters import and trace with them, so they run now, in torch's own order.
    load_deferred()
    module, meta = greedy_module(checkpoint, env_id)
    metadata = export_metadata(meta, env_id, variant, seed, fmt)
    example = torch.zeros(2, meta["obs_dim"])
    out = Path(out)
    with torch.no_grad():
        if fmt == "onnx":
            data = _onnx_bytes(module, example, metadata)
        else:
            data = _torchscript_bytes(module, example, metadata)
    write_atomic(out, data)
    write_atomic(out.with_name(out.name + ".json"), json.dumps(metadata, indent=2) + "\n")
    return metadata


def _onnx_bytes(module: nn.Module, example: torch.Tensor, metadata: dict) -> bytes:
    import io

    import onnx

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch 2.13 calls the TorchScript-based exporter legacy; it needs no extra
        # package and exports these two layers exactly (the round trip test holds it)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            buffer,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _torchscript_bytes(module: nn.Module, example: torch.Tensor, metadata: dict) -> bytes:
    import io

    traced = torch.jit.trace(module, (example,))
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer, _extra_files={"metadata.json": json.dumps(metadata)})
    return buffer.getvalue()
