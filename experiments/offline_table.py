"""CleanIL's offline table on jaxil's own data: one recorded run per algorithm and env.

The protocol (../shared/reference/cleanil.md §5.1, §6): the first 20 expert
trajectories of ``jaxil/<env>/expert-v0`` (90/10 train/held-out split), RECOIL also
the whole ``jaxil/<env>/medium-replay-v0``; BC 200k updates, IBC/IQ-Learn/RECOIL 500k,
CleanIL's hyperparameters (each Config's defaults); the final evaluation's normalized
score per seed, with IQM and 95% bootstrap CI. Each run goes through
``experiments/record.py`` into ``experiments/results/<algo>-<env>.json`` with its exact
command, seeds, budget (labelled "reduced" below the protocol's) and wall time.

    python experiments/offline_table.py --algos iqlearn --envs hopper --seeds 5 [--steps 50000]

On 2 CPU cores one seed of a 500k-update IQ-Learn run takes about 1.5 h (95 updates/s,
experiments/results/bench-updates.json), so ``--steps`` runs a labelled reduced budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

from record import budget_label, check_steps, protocol_parser, run_recorded

FULL_BUDGET = {"bc": 200_000, "ibc": 500_000, "iqlearn": 500_000, "recoil": 500_000}
# Where a jaxil default differs from CleanIL's config, the protocol passes CleanIL's.
CLEANIL_FLAGS = {"bc": ["--lr", "3e-4", "--lr-schedule", "constant", "--batch-size", "256"]}
# CleanIL's per-env configs (cleanil.md §5.1): RECOIL's gradient penalty has weight 10 on
# halfcheetah (the default) and 0 on hopper and walker2d. CleanIL has no ant; ant keeps the defaults.
CLEANIL_ENV_FLAGS = {("recoil", "hopper"): ["--gp-weight", "0"], ("recoil", "walker2d"): ["--gp-weight", "0"]}
NUM_EXPERT_TRAJS = 20
HERE = Path(__file__).resolve().parent


def command(algo: str, env: str, seeds: int, steps: int, out: Path) -> list[str]:
    eval_every = min(10_000, steps)
    return [
        "jaxil", "train", algo, "--env", env, "--num-expert-trajs", str(NUM_EXPERT_TRAJS), "--seeds", str(seeds),
        "--steps", str(steps), "--eval-every", str(eval_every), "--out", str(out), "--no-progress",
        *CLEANIL_FLAGS.get(algo, []), *CLEANIL_ENV_FLAGS.get((algo, env), []),
    ]


def main() -> int:
    p = protocol_parser(__doc__, "bc,ibc,iqlearn,recoil", "hopper,walker2d,halfcheetah,ant", "updates", "runs/offline-table")
    a = p.parse_args()
    for algo in a.algos.split(","):
        if algo not in FULL_BUDGET:
            p.error(f"unknown algorithm {algo!r}; choose from {sorted(FULL_BUDGET)}")
        full = FULL_BUDGET[algo]
        steps = check_steps(p, a.steps or full)
        for env in a.envs.split(","):
            budget = budget_label(steps, full, "updates") + f", {NUM_EXPERT_TRAJS} expert trajectories" + (", plus all of medium-replay-v0" if algo == "recoil" else "")
            what = f"{algo} on jaxil/{env}/expert-v0, CleanIL's offline protocol, CleanIL's hyperparameters"
            cmd = command(algo, env, a.seeds, steps, a.runs_dir / f"{algo}-{env}")
            if not run_recorded(HERE / "results" / f"{algo}-{env}.json", what, budget, cmd, a.dry_run):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
