"""DVC stage videos@<variant>: render one greedy evaluation episode of the variant's
median seed by final return (and its worst and best seed side by side) as animated GIFs.

Reads runs/<variant>/train (the checkpoints) and runs/<variant>/eval/eval.csv (the final
returns that rank the seeds); writes reports/videos/<variant>/{median.gif, strip.gif},
which the reports link (reinforce/agent/video.py says how they are made).
"""

import argparse
from pathlib import Path

from reinforce.agent.video import MAX_BYTES, variant_videos
from reinforce.analysis.stats import read_variant
from reinforce.io import paths
from reinforce.io.cli import add_study_arguments, load_study, log_label, stage_main
from reinforce.io.outputs import atomic_directory, write_atomic


@stage_main("videos")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, variant=True)
    args = parser.parse_args(argv)

    cfg = load_study(args)
    cfg.variant(args.variant)
    run = read_variant(Path(args.root) / paths.RUNS, args.variant)
    finals = {int(seed): float(value) for seed, value in run.final_returns().items()}
    videos = variant_videos(
        paths.train_dir(args.root, args.variant),
        finals,
        cfg.env.id,
        cfg.evaluate.seed_offset,
    )
    with atomic_directory(paths.videos_dir(args.root, args.variant)) as tmp:
        for name, data in videos.items():
            write_atomic(tmp / name, data)
    sizes = ", ".join(f"{name} {len(data) / 1024:.0f} KiB" for name, data in videos.items())
    print(f"videos@{log_label(args)}: {sizes} (at most {MAX_BYTES // 1024} KiB each)")


if __name__ == "__main__":
    raise SystemExit(main())
