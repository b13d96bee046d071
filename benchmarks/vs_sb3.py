"""Our `ppo` variant against Stable-Baselines3 PPO and our `actor-critic`, on the same
machine in one run: wall-clock ratios, and each system's policies on greedy episodes.

    python -m benchmarks.vs_sb3                   # 10 seeds of CartPole-v1 each
    python -m benchmarks.vs_sb3 --sb3-seeds 3     # SB3 on the first 3 seeds only
    python -m benchmarks.vs_sb3 --skip-sb3        # ours only (no SB3 installed)

Stable-Baselines3 is not a dependency of this project (it stays out of every lock): to
run it, install it beside the project's packages, e.g. in a throwaway venv:
`python -m venv --system-site-packages /tmp/sb3 && /tmp/sb3/bin/pip install
stable-baselines3`.

- ours: params.yaml's `ppo` and `actor-critic` variants (their lr as the select stage
  chose it: tuning/selected/<variant>.json, made by `dvc repro` or `python -m stages.tune
  <variant> && python -m stages.select`), the seeds 0..N-1 trained
  in ONE process (workers=1), as train_variant runs them; one short untimed run first
  pays the one-off costs (compiling the kernels, importing torch's pieces).
- SB3: PPO("MlpPolicy") with rl-baselines3-zoo's tuned CartPole-v1 hyperparameters
  (hyperparams/ppo.yml: n_envs 8, n_steps 32, batch_size 256, gae_lambda 0.8, gamma
  0.98, n_epochs 20, ent_coef 0.0, learning_rate lin_0.001, clip_range lin_0.2, 1e5
  timesteps), one seed after the other in this process, on one torch thread (as ours).
  With --sb3-seeds K < N its per-seed time is scaled to N seeds, and the output says so.
- Every system's final policy plays --eval-episodes greedy episodes of gymnasium's own
  CartPole-v1 per seed (env reset with seed 1_000_000 + seed once, then continuing).
  Evaluation is not timed.

Only the ratios mean anything, and only within one run: run it on an otherwise idle
machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time

import numpy as np
import torch

import reinforce  # noqa: F401  (pins the numeric path before torch is imported)
from reinforce.agent.policy import load_policy
from reinforce.agent.train import train_variant
from reinforce.analysis.stats import episodes_to_solve
from reinforce.io.config import load_config

ENV_ID = "CartPole-v1"
ZOO_CARTPOLE = dict(  # rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1 (tuned)
    n_envs=8,
    n_timesteps=100_000,
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=0.001,  # lin_: decays linearly to 0 over the run
    clip_range=0.2,  # lin_
)


def greedy_returns(act, seed: int, episodes: int) -> list[float]:
    """Returns of `episodes` greedy episodes of gymnasium's CartPole-v1, the env reset
    with seed 1_000_000 + seed once (params.yaml's evaluate.seed_offset), then
    continuing its own RNG; act(obs) -> action."""
    import gymnasium as gym

    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=1_000_000 + seed)
    returns = []
    for _ in range(episodes):
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += reward
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    env.close()
    return returns


def ours(params: str, variant: str, seeds: list[int], eval_episodes: int) -> dict:
    cfg = load_config(params)
    train = cfg.trained_variant(variant, cfg.selected_values(".", variant))
    train_variant(dataclasses.replace(train, episodes=3), ENV_ID, [seeds[0]], workers=1)
    start = time.perf_counter()
    result = train_variant(train, ENV_ID, seeds, workers=1, label=variant)
    seconds = time.perf_counter() - start
    solve, evaluation = [], []
    for seed in seeds:
        curve = result.curves[result.curves.seed == seed]["return"].to_numpy()
        solve.append(episodes_to_solve(curve, cfg.env.solve_window, cfg.env.solved_threshold))
        policy, _ = load_policy(io.BytesIO(result.checkpoints[seed]))

        def act(obs, policy=policy):
            with torch.no_grad():
                return int(policy(torch.as_tensor(obs, dtype=torch.float32)).argmax())

        evaluation.append(float(np.mean(greedy_returns(act, seed, eval_episodes))))
    return {"seconds": seconds, "seeds": len(seeds), "solve": solve, "eval": evaluation}


def sb3(seeds: list[int], eval_episodes: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    hp = ZOO_CARTPOLE
    seconds, evaluation = 0.0, []
    for seed in seeds:
        start = time.perf_counter()
        env = make_vec_env(ENV_ID, n_envs=hp["n_envs"], seed=seed)
        model = PPO(
            "MlpPolicy",
            env,
            n_steps=hp["n_steps"],
            batch_size=hp["batch_size"],
            gae_lambda=hp["gae_lambda"],
            gamma=hp["gamma"],
            n_epochs=hp["n_epochs"],
            ent_coef=hp["ent_coef"],
            learning_rate=linear(hp["learning_rate"]),
            clip_range=linear(hp["clip_range"]),
            seed=seed,
            device="cpu",
        )
        model.learn(total_timesteps=hp["n_timesteps"])
        seconds += time.perf_counter() - start
        env.close()

        def act(obs, model=model):
            return int(model.predict(obs, deterministic=True)[0])

        evaluation.append(float(np.mean(greedy_returns(act, seed, eval_episodes))))
    return {"seconds": seconds, "seeds": len(seeds), "eval": evaluation}


def summary(name: str, result: dict, seeds: int) -> str:
    per_seed = result["seconds"] / result["seeds"]
    scaled = "" if result["seeds"] == seeds else f" ({result['seeds']} seeds, scaled to {seeds})"
    line = f"{name:>13}: {per_seed * seeds:8.1f} s for {seeds} seeds{scaled};"
    line += f" greedy eval mean return per seed: median {np.median(result['eval']):.1f},"
    line += f" {sum(r >= 475 for r in result['eval'])}/{result['seeds']} >= 475"
    if "solve" in result:
        solved = [s for s in result["solve"] if s is not None]
        median = np.median([s if s is not None else np.inf for s in result["solve"]])
        line += f"; training solved {len(solved)}/{result['seeds']}, median episode {median:g}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sb3-seeds", type=int, default=None, help="SB3 on the first K only")
    parser.add_argument("--skip-sb3", action="store_true")
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)  # ours trains on one thread; so does SB3 here

    seeds = list(range(args.seeds))
    results = {
        "ppo": ours(args.params, "ppo", seeds, args.eval_episodes),
        "actor-critic": ours(args.params, "actor-critic", seeds, args.eval_episodes),
    }
    if not args.skip_sb3:
        results["sb3-ppo"] = sb3(seeds[: args.sb3_seeds or args.seeds], args.eval_episodes)
    print(f"CartPole-v1, seeds 0..{args.seeds - 1}, one process each:")
    for name, result in results.items():
        print(summary(name, result, args.seeds))
    ppo = results["ppo"]["seconds"] / results["ppo"]["seeds"]
    for name, result in results.items():
        if name != "ppo":
            ratio = (result["seconds"] / result["seeds"]) / ppo
            print(f"ppo is {ratio:.1f}x faster than {name} (wall-clock per seed, this run)")


if __name__ == "__main__":
    main()
