"""Play one seed's trained policy: on screen where there is a display, else to a video.

    python -m stages.play VARIANT --seed K [--episodes N] [--sample] [--out FILE.gif]
    reinforce-play VARIANT --seed K ...            (the same, installed: pip install -e .)

Loads runs/<variant>/train/policy_seed<K>.pt (torch.load with weights_only: no pickled
object is ever run), plays N episodes of the untouched gymnasium.make(env.id), the first
reset with evaluate.seed_offset + K as evaluation does (the first is the report's video
episode), greedy (the argmax, or the Gaussian's mean) or with --sample drawn from the
policy, and prints each episode's return. With DISPLAY or WAYLAND_DISPLAY set it draws
them in a window (render_mode="human"), unless --out is given; without a display it writes
them, one after another, to --out (default: play-<variant>-seed<K>.gif). In a suite, --env
names the env (and --root defaults to its folder).
"""

import argparse
from pathlib import Path

from reinforce.agent.play import has_display, locate_policy, play
from reinforce.agent.video import WIDTH, encode_gif, render_fps
from reinforce.io.cli import add_study_arguments, stage_main
from reinforce.io.errors import ConfigError
from reinforce.io.outputs import write_atomic


@stage_main("play")
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variant")
    parser.add_argument("--seed", type=int, required=True, help="a reporting seed")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--sample", action="store_true", help="sample actions (default greedy)")
    parser.add_argument("--out", type=Path, default=None, help="a .gif file to write")
    add_study_arguments(parser)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        raise ConfigError(f"--episodes: got {args.episodes}; allowed: an integer >= 1")
    if args.out is not None and args.out.suffix.lower() != ".gif":
        raise ConfigError(f"--out: got {str(args.out)!r}; allowed: a file name ending in .gif")

    cfg, checkpoint = locate_policy(args.params, args.env, args.root, args.variant, args.seed)

    on_screen = has_display() and args.out is None
    out = args.out or Path(f"play-{args.variant}-seed{args.seed}.gif")
    mode = "human" if on_screen else "rgb_array"
    how = "sampled" if args.sample else "greedy"

    def report(index, episode):
        print(
            f"{args.variant} seed {args.seed}, episode {index} ({how}): return "
            f"{episode.episode_return:.1f} in {episode.steps} steps",
            flush=True,
        )

    env_seed = cfg.evaluate.seed_offset + args.seed
    played = play(checkpoint, cfg.env.id, env_seed, args.episodes, args.sample, mode, report)
    if not on_screen:
        frames = [frame for episode in played for frame in episode.frames]
        write_atomic(out, encode_gif([frames], render_fps(cfg.env.id), WIDTH))
        why = "--out given" if args.out else "no display: DISPLAY and WAYLAND_DISPLAY unset"
        print(f"wrote {out} ({len(played)} episode(s); {why})")


if __name__ == "__main__":
    raise SystemExit(main())
