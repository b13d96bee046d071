"""The report's videos: one greedy evaluation episode per seed shown, as animated GIFs.

For a variant, the seeds are ranked by final return (the mean return of their evaluation
episodes, runs/<variant>/eval/eval.csv; reinforce/analysis/videos.py states the rule);
the median seed's episode is `median.gif`, and with two or more seeds `strip.gif` shows
the worst and the best seed's episodes side by side. Each episode is the first
evaluation episode of its seed: the untouched gymnasium.make(env_id), reset with
evaluate.seed_offset + seed, greedy actions (reinforce/agent/play.py).

Same bytes on every run: the frames come from the same episode, and the encoding is
fixed (Pillow's GIF writer, a fixed size, a fixed frame stride, a per-frame median-cut
palette without dithering, no optimizer pass). Size: at most MAX_BYTES per file; an
animation over it is encoded again at a lower frame rate and size until it fits
(encode_gif), and one that cannot fit is an error, never a larger file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reinforce.agent.play import render_greedy_episode
from reinforce.agent.policy import policy_path
from reinforce.analysis.videos import video_seeds
from reinforce.io.errors import DataError
from reinforce.io.paths import MEDIAN_VIDEO, STRIP_VIDEO

MAX_BYTES = 1_048_576  # 1 MiB per file, stated in README.md and docs/agents.md
MAX_FRAMES = 250  # frames kept per animation: a longer episode keeps every k-th frame
WIDTH = 320  # pixels of one episode's panel (the height keeps the env's aspect)
STRIP_WIDTH = 240  # pixels of each panel of the worst/best strip
COLORS = 64  # palette entries per frame
MIN_WIDTH = 60  # encode_gif gives up below this


def _stride(n_frames: int, max_frames: int) -> int:
    return max(1, math.ceil(n_frames / max_frames))


def _panel(frame: np.ndarray, width: int):
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def _compose(frames: Sequence[np.ndarray | None], width: int):
    """One image of panels side by side (an episode that has ended keeps its last frame)."""
    from PIL import Image

    panels = [_panel(f, width) for f in frames]
    canvas = Image.new("RGB", (sum(p.width for p in panels), max(p.height for p in panels)))
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width
    return canvas


def encode_gif(
    episodes: Sequence[Sequence[np.ndarray]],
    fps: float,
    width: int,
    max_bytes: int = MAX_BYTES,
    max_frames: int = MAX_FRAMES,
) -> bytes:
    """An animated GIF of one or more episodes' frames side by side (each panel `width`
    pixels wide), looping, at most max_frames frames and max_bytes bytes: while it is
    larger, it is encoded again with half the frames, then at 3/4 of the width. The same
    frames give the same bytes."""
    from PIL import Image

    longest = max(len(frames) for frames in episodes)
    while True:
        stride = _stride(longest, max_frames)
        images = []
        for t in range(0, longest, stride):
            frame = _compose([frames[min(t, len(frames) - 1)] for frames in episodes], width)
            images.append(
                frame.quantize(
                    colors=COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
                )
            )
        # GIF delays are in hundredths of a second
        duration = max(20, round(stride * 100 / fps) * 10)
        buffer = io.BytesIO()
        images[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration,
            loop=0,
            optimize=False,
            disposal=1,
        )
        data = buffer.getvalue()
        if len(data) <= max_bytes:
            return data
        if max_frames > 50:
            max_frames //= 2
        elif width * 3 // 4 >= MIN_WIDTH:
            width = width * 3 // 4
        else:
            raise DataError(
                f"a video of {longest} frames does not fit in {max_bytes} bytes even at "
                f"{width} pixels and {max_frames} frames"
            )


def render_fps(env_id: str) -> float:
    """The env's own frame rate (its metadata's render_fps; 30 where it states none)."""
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        return float(env.metadata.get("render_fps") or 30)
    finally:
        env.close()


def variant_videos(
    train_dir: Path,
    final_returns: dict[int, float],
    env_id: str,
    seed_offset: int,
) -> dict[str, bytes]:
    """{file name: GIF bytes} of one variant: median.gif, and strip.gif (worst | best)
    when there are two or more seeds. final_returns: seed -> its final return."""
    chosen = video_seeds(final_returns)
    episodes = {}
    for seed in sorted(set(chosen.values())):
        checkpoint = policy_path(train_dir, seed)
        if not checkpoint.is_file():
            raise DataError(f"{checkpoint}: not found; run `dvc repro` (its train stage)")
        episodes[seed] = render_greedy_episode(checkpoint, env_id, seed_offset + seed)
    fps = render_fps(env_id)
    videos = {MEDIAN_VIDEO: encode_gif([episodes[chosen["median"]].frames], fps, WIDTH)}
    if chosen["worst"] != chosen["best"]:
        pair = [episodes[chosen["worst"]].frames, episodes[chosen["best"]].frames]
        videos[STRIP_VIDEO] = encode_gif(pair, fps, STRIP_WIDTH)
    return videos
