"""CleanIL's model-based IRL table on jaxil's own data: one recorded run per algorithm and env.

The protocol (../shared/reference/cleanil.md §3.7–3.9, §5.3, §6): the first 10 expert
trajectories of ``jaxil/<env>/expert-v0`` and all of ``jaxil/<env>/medium-replay-v0``, in
the dynamics ensemble jaxil ships for the env (fitted to exactly those, CleanIL's
pretraining: ``experiments/ship_models.sh``); 1000 × 1000 updates; CleanIL's hyperparameters
(each Config's defaults, and the MuJoCo presets, e.g. RMIRL-implicit's gradient-penalty
target of 100 on walker2d). The final evaluation's normalized score per seed, with IQM and
95% bootstrap CI. Each run goes through ``experiments/record.py`` into
``experiments/results/<algo>-<env>.json`` with its exact command, seeds, budget (labelled
"reduced" below the protocol's) and wall time.

    python experiments/model_irl_table.py --algos omlirl --envs hopper --seeds 3 [--steps 10000]

On 2 CPU cores OMLIRL runs about 50 iterations/s and RMIRL 70 at these sizes
(``experiments/bench/bench_model_irl.py``), so the full budget takes 4–6 h per seed and
``--steps`` runs a labelled reduced budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

from record import budget_label, protocol_parser, run_recorded

FULL_BUDGET = 1_000_000
ALGOS = ("omlirl", "rmirl", "rmirl-implicit")
NUM_EXPERT_TRAJS = 10
HERE = Path(__file__).resolve().parent


def command(algo: str, env: str, seeds: int, steps: int, eval_every: int, out: Path) -> list[str]:
    return [
        "jaxil", "train", algo, "--env", env, "--num-expert-trajs", str(NUM_EXPERT_TRAJS),
        "--suboptimal-dataset", f"jaxil/{env}/medium-replay-v0", "--seeds", str(seeds), "--steps", str(steps),
        "--eval-every", str(eval_every), "--out", str(out), "--no-progress",
    ]


def main() -> int:
    p = protocol_parser(__doc__, ",".join(ALGOS), "hopper,halfcheetah,walker2d", "updates", "runs/model-irl-table")
    p.add_argument("--eval-every", type=int, default=None,
                   help="updates between evaluations (default: 10,000, or a fifth of a reduced budget)")
    a = p.parse_args()
    steps = a.steps or FULL_BUDGET
    eval_every = a.eval_every or min(10_000, max(1000, steps // 5 // 1000 * 1000))
    if steps % 1000 or eval_every % 1000 or steps % eval_every:
        p.error("--steps and --eval-every must be multiples of 1000 (RMIRL's adversarial period), --steps of "
                f"--eval-every; got {steps} and {eval_every}")
    for algo in a.algos.split(","):
        if algo not in ALGOS:
            p.error(f"unknown algorithm {algo!r}; choose from {list(ALGOS)}")
        for env in a.envs.split(","):
            budget = (budget_label(steps, FULL_BUDGET, "updates") + f", evaluation every {eval_every:,} updates, "
                      f"{NUM_EXPERT_TRAJS} expert trajectories plus all of medium-replay-v0")
            what = (f"{algo} on jaxil/{env}: expert-v0 and medium-replay-v0 in the shipped dynamics model "
                    f"(jaxil/data/models/{env}), CleanIL's model-based IRL protocol and hyperparameters")
            reduced = "-reduced" if steps < FULL_BUDGET else ""
            cmd = command(algo, env, a.seeds, steps, eval_every, a.runs_dir / f"{algo}-{env}")
            if not run_recorded(HERE / "results" / f"{algo}-{env}{reduced}.json", what, budget, cmd, a.dry_run):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
