"""Score every classic-control preset of ``jaxil train`` (``jaxil/presets.py``).

    python experiments/presets_table.py [--algos iqlearn,gail] [--seeds 8] [--dry-run]

Each cell is ``jaxil train ALGO --env ENV --seeds N`` with nothing but the preset,
recorded through ``experiments/record.py`` into ``experiments/results/presets/``.
Pendulum takes every continuous-action algorithm; cartpole the discrete ones (SQIL with
double DQN). The presets' claim is ≥ 90 normalized (IQM over 8 seeds) in minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from record import run_recorded

from jaxil.presets import CLASSIC, CLASSIC_DISCRETE

RESULTS = Path(__file__).parent / "results" / "presets"
CELLS = [(algo, "pendulum") for algo in CLASSIC] + [(algo, "cartpole") for algo in CLASSIC_DISCRETE]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algos", default=",".join(dict.fromkeys(a for a, _ in CELLS)), help="comma-separated algorithms")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--runs-dir", type=Path, default=Path("runs/presets"))
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    algos = args.algos.split(",")
    ok = True
    for algo, env in CELLS:
        if algo not in algos:
            continue
        out = args.runs_dir / f"{algo}-{env}"
        command = ["jaxil", "train", algo, "--env", env, "--seeds", str(args.seeds), "--out", str(out), "--no-progress"]
        ok &= run_recorded(RESULTS / f"{algo}-{env}.json", f"{algo} on {env} with its classic-control preset",
                           "the preset's budget (jaxil/presets.py)", command, args.dry_run)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
