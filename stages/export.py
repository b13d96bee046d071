"""Export one seed's trained policy for use outside the pipeline: ONNX or TorchScript.

    python -m stages.export VARIANT --seed K --format onnx|torchscript --out PATH
    reinforce-export VARIANT --seed K ...          (the same, installed: pip install -e .)

Writes PATH (the greedy action the pipeline evaluates with, from the raw observation:
reinforce/agent/export.py says exactly what the graph computes) and PATH.json, its
metadata (env id, spaces, variant, seed, code version), which the ONNX file also holds
in its metadata_props. In a suite, --env names the env (and --root defaults to its folder).
"""

import argparse
from pathlib import Path

from reinforce.agent.export import FORMATS, export_policy
from reinforce.agent.play import locate_policy
from reinforce.io.cli import add_study_arguments, stage_main


@stage_main("export")
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variant")
    parser.add_argument("--seed", type=int, required=True, help="a reporting seed")
    parser.add_argument("--format", choices=FORMATS, default="onnx")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    add_study_arguments(parser)
    args = parser.parse_args(argv)

    cfg, checkpoint = locate_policy(args.params, args.env, args.root, args.variant, args.seed)
    meta = export_policy(checkpoint, cfg.env.id, args.variant, args.seed, args.format, args.out)
    print(f"wrote {args.out} and {args.out}.json ({meta['env_id']}, {meta['output']})")


if __name__ == "__main__":
    raise SystemExit(main())
