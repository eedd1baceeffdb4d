"""GAIL and AIRL with and without a BC warm start, same budget, same seeds.

    python experiments/warm_start.py [--algos gail,airl] [--warm 5000] [--seeds 8] [--dry-run]

Each pair is ``jaxil train ALGO --env pendulum --seeds N --eval-every 1000`` (the
classic-control preset otherwise: 2×64 nets, lr 1e-3, its env-step budget) once as it is
and once with ``--warm-start-bc WARM``, recorded through ``experiments/record.py`` into
``experiments/results/warm-start/ALGO-pendulum-{none,bcWARM}.json``. Evaluations every
1,000 env steps show how soon each run reaches the expert, which is what a warm start is
for; the final scores show whether it costs anything at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from record import run_recorded

RESULTS = Path(__file__).parent / "results" / "warm-start"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algos", default="gail,airl")
    p.add_argument("--warm", type=int, default=5000, help="BC updates of the warm start")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--runs-dir", type=Path, default=Path("runs/warm-start"))
    p.add_argument("--flags", default="", help="more flags for both runs, e.g. '--init-alpha 0.05'")
    p.add_argument("--tag", default="", help="appended to the result names (for runs with --flags)")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    ok = True
    for algo in args.algos.split(","):
        for tag, flags in (("none", []), (f"bc{args.warm}", ["--warm-start-bc", str(args.warm)])):
            name = f"{algo}-pendulum-{tag}{args.tag}"
            command = ["jaxil", "train", algo, "--env", "pendulum", "--seeds", str(args.seeds), "--eval-every", "1000",
                       "--out", str(args.runs_dir / name), "--no-progress", *flags, *args.flags.split()]
            what = f"{algo} on pendulum, classic-control preset{' with ' + args.flags if args.flags else ''}, " + (
                f"BC warm start of {args.warm} updates" if flags else "no warm start")
            ok &= run_recorded(RESULTS / f"{name}.json", what, "the preset's env-step budget", command, args.dry_run)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
