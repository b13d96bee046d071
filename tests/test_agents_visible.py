"""Seeing the agents (issue 29): the videos stage, `play`, `export`, live metrics."""

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from reinforce.agent.policy import load_policy, make_policy, save_policy
from reinforce.analysis.videos import video_seeds, videos_markdown
from reinforce.io import paths
from tests.conftest import ROOT, make_project, run, tiny_params, tree_bytes

ENVS = {  # env id -> (obs_dim, actions, continuous)
    "CartPole-v1": (4, 2, False),
    "Pendulum-v1": (3, 1, True),
}


def write_run(root: Path, variant: str, env_id: str, seeds=(0, 1, 2)) -> dict[int, float]:
    """A variant's train folder with untrained checkpoints of the given seeds (the public
    make_policy / save_policy) and an eval.csv whose final returns rank them 1, 0, 2."""
    obs_dim, n_actions, continuous = ENVS[env_id]
    train = paths.train_dir(root, variant)
    train.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        policy = make_policy(
            obs_dim, n_actions, 16, torch.Generator().manual_seed(seed), continuous
        )
        meta = {"env_id": env_id, "obs_dim": obs_dim, "n_actions": n_actions, "hidden_dim": 16}
        if continuous:
            meta["policy_head"] = "gaussian"
        (train / paths.policy_name(seed)).write_bytes(save_policy(policy, None, meta))
    finals = {seed: float(10 * ((seed + 1) % len(seeds))) for seed in seeds}
    (train / paths.CURVES_FILE).write_text(
        "seed,episode,return,length,loss\n" + "".join(f"{s},1,{finals[s]},10,0.5\n" for s in seeds)
    )
    evaluation = paths.eval_dir(root, variant)
    evaluation.mkdir(parents=True, exist_ok=True)
    (evaluation / paths.EVAL_FILE).write_text(
        "seed,episode,return\n" + "".join(f"{s},1,{finals[s]}\n" for s in seeds)
    )
    return finals


def study(tmp_path: Path, env_id: str = "CartPole-v1") -> Path:
    params = tiny_params(
        env={"id": env_id, "solved_threshold": None, "solve_window": 5},
        variants={"article": {"lr": 0.01}},
        seeds=[0, 1, 2],
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path


def stage(module: str, *args: str, cwd: Path, env: dict | None = None):
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", f"stages.{module}", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ------------------------------------------------------------------------------ videos


def test_video_seeds_rank_by_final_return_ties_to_the_lower_seed():
    assert video_seeds({0: 5.0, 1: 1.0, 2: 3.0}) == {"worst": 1, "median": 2, "best": 0}
    # even count: the lower median; ties: the lower seed first
    assert video_seeds({3: 2.0, 1: 2.0, 2: 9.0, 0: 1.0}) == {"worst": 0, "median": 1, "best": 2}
    assert video_seeds({7: 1.0}) == {"worst": 7, "median": 7, "best": 7}


@pytest.mark.slow  # renders and encodes whole episodes twice
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_videos_stage_same_bytes_twice_within_the_bound(tmp_path, env_id):
    from PIL import Image

    from reinforce.agent.video import MAX_BYTES

    root = study(tmp_path, env_id)
    finals = write_run(root, "article", env_id)
    out = paths.videos_dir(root, "article")
    renders = []
    for _ in range(2):
        done = stage("videos", "article", cwd=root)
        assert done.returncode == 0, done.stderr
        renders.append(tree_bytes(root, "reports/videos"))
    assert renders[0] == renders[1]  # byte for byte
    assert sorted(p.name for p in out.iterdir()) == [paths.MEDIAN_VIDEO, paths.STRIP_VIDEO]
    for name, data in renders[0].items():
        assert 1000 < len(data) <= MAX_BYTES, name
        image = Image.open(io.BytesIO(data))
        assert image.format == "GIF" and image.n_frames > 5 and image.is_animated
    # the median seed's episode is the greedy first evaluation episode of that seed
    from reinforce.agent.play import render_greedy_episode

    median = video_seeds(finals)["median"]
    episode = render_greedy_episode(
        paths.train_dir(root, "article") / paths.policy_name(median), env_id, 1000000 + median
    )
    stride = -(-len(episode.frames) // 250)  # a longer episode keeps every stride-th frame
    gif = Image.open(out / paths.MEDIAN_VIDEO)
    durations = []  # Pillow merges a frame equal to the one before into its duration
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    each = min(durations)
    assert sum(durations) == each * len(episode.frames[::stride])


@pytest.mark.slow  # encodes frames over and over until they fit
def test_encode_gif_shrinks_to_its_bound_and_refuses_what_cannot_fit():
    from reinforce.agent.video import encode_gif
    from reinforce.io.errors import DataError

    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(120)]
    big = encode_gif([noise], fps=50, width=160, max_bytes=10**8)
    bound = len(big) // 3
    small = encode_gif([noise], fps=50, width=160, max_bytes=bound)
    assert len(small) <= bound < len(big)
    assert small == encode_gif([noise], fps=50, width=160, max_bytes=bound)
    with pytest.raises(DataError, match="does not fit"):
        encode_gif([noise], fps=50, width=160, max_bytes=2000)


def test_report_section_links_the_videos_only():
    lines = videos_markdown({"article": {0: 1.0, 1: 3.0, 2: 2.0}}, prefix="../")
    text = "\n".join(lines)
    assert "![article: seed 2](../reports/videos/article/median.gif)" in text
    assert "(../reports/videos/article/strip.gif)" in text and "Worst seed 0" in text
    single = "\n".join(videos_markdown({"article": {4: 1.0}}, prefix="../"))
    assert "median.gif" in single and "strip.gif" not in single


def test_dvc_yaml_declares_the_videos_stages():
    root_stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    body = root_stages["videos"]["do"]
    assert body["cmd"] == "python -m stages.videos"  # the variant from DVC_STAGE: no name in it
    assert "runs/${key}/train" in body["deps"] and "runs/${key}/eval" in body["deps"]
    assert [next(iter(o)) for o in body["outs"]] == [paths.VIDEOS_DIR.format(variant="${key}")]
    # nothing of the report: editing reinforce/analysis/report.py never re-renders
    assert "reinforce/analysis/report.py" not in body["deps"]
    suite = yaml.safe_load((ROOT / "studies/suite/dvc.yaml").read_text())["stages"]["videos"]
    assert set(suite["matrix"]) == {"env", "variant"} and "${" not in suite["cmd"]
    assert [next(iter(o)) for o in suite["outs"]] == [
        "studies/suite/envs/${item.env}/reports/videos/${item.variant}"
    ]


def test_tiny_dvc_repro_renders_and_reports_the_videos(tmp_path):
    params = tiny_params(variants={"article": {"lr": 0.01}}, seeds=[0, 1, 2])
    project = make_project(tmp_path / "repo", params)
    run(["dvc", "repro"], project)
    report = (project / "reports" / "report.md").read_text()
    assert "## Videos" in report
    assert "(../reports/videos/article/median.gif)" in report
    videos = tree_bytes(project, "reports/videos")
    assert sorted(videos) == [
        "reports/videos/article/median.gif",
        "reports/videos/article/strip.gif",
    ]
    lock = (project / "dvc.lock").read_text()
    assert "videos@article" in lock
    # the report links, never renders: editing the report's code leaves the videos stage
    (project / "reinforce/analysis/report.py").write_text(
        (project / "reinforce/analysis/report.py").read_text() + "\n# edited\n"
    )
    dry = run(["dvc", "repro", "--dry"], project).stdout
    assert "Stage 'videos@article' didn't change" in dry, dry
    assert "Running stage 'plot'" in dry


# -------------------------------------------------------------------------------- play


def test_play_without_a_display_writes_a_video_and_prints_each_return(tmp_path):
    root = study(tmp_path)
    write_run(root, "article", "CartPole-v1")
    done = stage("play", "article", "--seed", "1", "--episodes", "2", cwd=root)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "episode" in line]
    assert len(lines) == 3 and "episode 1 (greedy): return" in lines[0]
    assert "episode 2 (greedy)" in lines[1]
    assert (root / "play-article-seed1.gif").stat().st_size > 1000
    sampled = stage(
        "play", "article", "--seed", "0", "--sample", "--out", "x/sampled.gif", cwd=root
    )
    assert sampled.returncode == 0, sampled.stderr
    assert "(sampled)" in sampled.stdout and (root / "x" / "sampled.gif").exists()


def test_play_greedy_return_is_the_evaluation_return(tmp_path):
    """play's first greedy episode is evaluation's first episode of that seed."""
    from reinforce.agent.evaluate import evaluate_policies
    from reinforce.agent.play import play
    from reinforce.io.config import EvaluateConfig

    root = study(tmp_path)
    write_run(root, "article", "CartPole-v1")
    train = paths.train_dir(root, "article")
    cfg = EvaluateConfig(episodes=2, seed_offset=1000000, policy="greedy")
    evaluated = evaluate_policies(train, "CartPole-v1", [0, 1, 2], cfg)
    for seed in (0, 1, 2):
        played = play(
            train / paths.policy_name(seed),
            "CartPole-v1",
            1000000 + seed,
            2,
            False,
            None,
            lambda i, e: None,
        )
        expected = evaluated[evaluated["seed"] == seed]["return"].tolist()
        assert [e.episode_return for e in played] == expected


@pytest.mark.parametrize(
    "args, words",
    [
        (["nope", "--seed", "0"], ["variant", "'nope'", "article"]),
        (["article", "--seed", "7"], ["--seed", "7", "0, 1, 2"]),
        (["article", "--seed", "0", "--env", "Acrobot-v1"], ["--env", "CartPole-v1"]),
        (["article", "--seed", "0", "--episodes", "0"], ["--episodes", ">= 1"]),
    ],
)
def test_play_refuses_a_bad_variant_seed_or_env_in_one_line(tmp_path, args, words):
    root = study(tmp_path)
    write_run(root, "article", "CartPole-v1")
    done = stage("play", *args, cwd=root)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, message


# ------------------------------------------------------------------------------ export


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_export_onnx_round_trip_gives_the_torch_actions(tmp_path, env_id):
    import onnx
    import onnxruntime

    from reinforce.agent.play import env_action, greedy_action
    from reinforce.io.env_ids import env_spaces

    root = study(tmp_path, env_id)
    write_run(root, "article", env_id)
    out = tmp_path / "out" / "policy.onnx"
    done = stage(
        "export", "article", "--seed", "1", "--format", "onnx", "--out", str(out), cwd=root
    )
    assert done.returncode == 0, done.stderr
    sidecar = json.loads(out.with_name("policy.onnx.json").read_text())
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    for meta in (sidecar, props):
        assert meta["env_id"] == env_id and meta["variant"] == "article"
        assert str(meta["seed"]) == "1" and meta["code_version"]
        assert "Box" in meta["observation_space"]

    obs_space, act_space = env_spaces(env_id)
    rng = np.random.default_rng(0)
    scale = np.where(np.isfinite(obs_space.high), obs_space.high, 3.0).astype(np.float32)
    obs = (rng.uniform(-1, 1, (1000, obs_space.shape[0])) * scale).astype(np.float32)
    policy, _ = load_policy(paths.train_dir(root, "article") / paths.policy_name(1))
    with torch.no_grad():
        expected = greedy_action(policy, torch.from_numpy(obs))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"observation": obs})
    if ENVS[env_id][2]:
        clipped = np.stack([env_action(a, act_space) for a in expected])
        assert got.dtype == np.float32 and got.shape == (1000, 1)
        np.testing.assert_allclose(got, clipped, rtol=0, atol=1e-6)
        assert len(np.unique(got)) > 100  # a real comparison, not one clipped value
    else:
        assert got.dtype == np.int64 and got.shape == (1000,)
        assert (got == expected.numpy()).all()
        assert len(set(got.tolist())) == 2  # both actions occur: a real comparison


def test_export_torchscript_round_trip(tmp_path):
    from reinforce.agent.play import greedy_action

    root = study(tmp_path)
    write_run(root, "article", "CartPole-v1")
    out = tmp_path / "policy.pt"
    done = stage(
        "export", "article", "--seed", "0", "--format", "torchscript", "--out", str(out), cwd=root
    )
    assert done.returncode == 0, done.stderr
    extra = {"metadata.json": ""}
    module = torch.jit.load(str(out), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["env_id"] == "CartPole-v1"
    obs = torch.from_numpy(np.random.default_rng(1).normal(size=(1000, 4)).astype(np.float32))
    policy, _ = load_policy(paths.train_dir(root, "article") / paths.policy_name(0))
    with torch.no_grad():
        assert torch.equal(module(obs), greedy_action(policy, obs))


# -------------------------------------------------------------------------- live metrics


def test_live_switch_and_folder(tmp_path):
    from reinforce.agent.live import live_dir, live_enabled

    assert live_enabled({}) and live_enabled({"REINFORCE_LIVE": "1"})  # on by default
    assert not live_enabled({"DVC_EXP_BASELINE_REV": "abc", "REINFORCE_LIVE": "0"})
    assert live_dir("train-a", {}, tmp_path) == tmp_path / "dvclive" / "train-a"
    queued = tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12"
    env = {"DVC_EXP_NAME": "exp-1"}
    assert live_dir("train-a", env, queued) == tmp_path / "dvclive" / "exp-1" / "train-a"
    assert live_dir("t", {"REINFORCE_LIVE_DIR": "/x", "DVC_EXP_NAME": "../e"}) == Path("/x/t")


def test_live_rows_reach_the_logger_from_every_worker(tmp_path):
    from reinforce.agent.train import train_variant
    from reinforce.io.config import parse_config

    cfg = parse_config(tiny_params()).trained_variant("article", {})
    rows = []
    result = train_variant(cfg, "CartPole-v1", [0, 1, 2], workers=2, on_row=rows.append)
    assert sorted(rows) == [tuple(r) for r in result.rows]  # every row, from both processes


def test_live_files_grow_while_the_stage_runs_and_no_output_byte_moves(tmp_path, monkeypatch):
    params = tiny_params(variants={"article": {"lr": 0.01}}, seeds=[0, 1, 2, 3])
    params["train"]["episodes"] = 300
    params["compute"] = {"workers": 2}
    project = make_project(tmp_path / "repo", params)
    monkeypatch.setenv("REINFORCE_LIVE", "0")
    run(["dvc", "repro", "train@article"], project)
    assert not (project / "dvclive").exists()
    before = tree_bytes(project, "runs", "dvc.lock")

    series = project / "dvclive" / "train-article" / "plots" / "metrics" / "seed3" / "return.tsv"
    monkeypatch.setenv("REINFORCE_LIVE", "1")
    monkeypatch.setenv("REINFORCE_LIVE_SECONDS", "0.1")  # rewritten often: seen growing
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": ""}
    process = subprocess.Popen(
        ["dvc", "repro", "--force", "train@article"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []  # line counts of one seed's live series while the stage runs
    while process.poll() is None:
        if series.exists():
            count = len(series.read_text().splitlines())
            if not seen or seen[-1] != count:
                seen.append(count)
        time.sleep(0.1)
    output = process.stdout.read()
    assert process.returncode == 0, output
    assert len([c for c in seen if c > 1]) >= 2, seen  # it grew while the stage ran
    final = series.read_text().splitlines()
    assert final[0] == "step\treturn" and len(final) == 1 + 300
    assert [line.split("\t")[0] for line in final[1:]] == [str(e) for e in range(1, 301)]
    summary = json.loads((project / "dvclive" / "train-article" / "metrics.json").read_text())
    assert summary["episodes"] == 4 * 300 and "return" in summary["seed0"]
    assert tree_bytes(project, "runs", "dvc.lock") == before  # no committed byte moved
    assert "dvclive" not in run(["git", "status", "--porcelain"], project).stdout
