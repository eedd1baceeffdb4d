"""CleanIL's online table on jaxil's own data: one recorded run per algorithm and env.

The protocol (../shared/reference/cleanil.md §5.2, §6): the first 10 expert trajectories
of ``jaxil/<env>/expert-v0``, 1M env steps after 2,000 uniformly random ones, one
learner update per env step, CleanIL's hyperparameters (each Config's defaults); the
final evaluation's normalized score per seed, with IQM and 95% bootstrap CI. Each run
goes through ``experiments/record.py`` into ``experiments/results/<algo>-<env>.json``
with its exact command, seeds, budget (labelled "reduced" below the protocol's), wall
time and learning curves.

``--envs pendulum`` runs a small pendulum setting instead (2×64 nets, learning rate 1e-3;
on-policy GAIL with PPO): minutes on 2 CPU cores, not CleanIL's protocol, and labelled so.
It is the tests' setting as it was until 2026-11-23; the tests now use batches of 128 and
a shorter on-policy AIRL budget to run faster. Its commands pass ``--preset none`` (the
settings not named start from the Configs' defaults, as they did when recorded);
``experiments/presets_table.py`` scores the presets themselves.

    python experiments/online_table.py --algos gail --envs hopper --seeds 3 [--steps 100000]
    python experiments/online_table.py --algos gail,gail-ppo,airl,airl-ppo,sqil,recoil-online --envs pendulum --seeds 8

On 2 CPU cores one seed of off-policy GAIL runs about 100 env steps/s on hopper
(experiments/bench/bench_gail.py), so 1M steps take about 3 h per seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from record import budget_label, check_steps, protocol_parser, run_recorded

ALGOS = {"gail": "gail", "gail-ppo": "gail", "airl": "airl", "airl-ppo": "airl", "sqil": "sqil",
         "recoil-online": "recoil-online"}
FULL_BUDGET = 1_000_000
NUM_EXPERT_TRAJS = 10
HERE = Path(__file__).resolve().parent
# CleanIL's per-env configs where they differ from the Config's defaults (cleanil.md §5.2):
# RECOIL-online's TD weight is 0.5 on hopper (the default) and 0.2 on halfcheetah and walker2d.
CLEANIL_ENV_FLAGS = {("recoil-online", "halfcheetah"): ["--td-weight", "0.2"],
                     ("recoil-online", "walker2d"): ["--td-weight", "0.2"]}

_SMALL = ["--hidden", "64", "64", "--warmup-steps", "1000", "--buffer-size", "20000", "--eval-every", "2000"]
_PPO = ["--generator", "ppo", "--hidden", "64", "64", "--activation", "tanh", "--disc-hidden", "64", "64",
        "--num-envs", "16", "--rollout-steps", "128", "--ppo-lr", "1e-3", "--gamma", "0.95", "--disc-updates", "4"]
PENDULUM = {
    "gail": (12_000, [*_SMALL, "--disc-hidden", "64", "64", "--disc-activation", "relu", "--actor-lr", "1e-3",
                      "--critic-lr", "1e-3", "--disc-lr", "1e-3"]),
    "airl": (8_000, [*_SMALL, "--disc-hidden", "64", "64", "--actor-lr", "1e-3", "--critic-lr", "1e-3",
                     "--disc-lr", "1e-3"]),
    "gail-ppo": (307_200, [*_PPO, "--eval-every", "30720"]),
    "airl-ppo": (614_400, [*_PPO, "--disc-lr", "1e-3", "--eval-every", "61440"]),
    "sqil": (6_000, [*_SMALL, "--lr", "1e-3"]),
    "recoil-online": (6_000, [*_SMALL, "--actor-lr", "1e-3", "--critic-lr", "1e-3"]),
}


def command(algo: str, env: str, seeds: int, steps: int, out: Path) -> list[str]:
    if env == "pendulum":
        flags = PENDULUM[algo][1]
    else:
        flags = ["--eval-every", str(min(10_000, steps))] + (["--generator", "ppo"] if algo.endswith("-ppo") else [])
        flags += CLEANIL_ENV_FLAGS.get((algo, env), [])
    return [
        "jaxil", "train", ALGOS[algo], "--env", env, "--num-expert-trajs", str(NUM_EXPERT_TRAJS), "--seeds", str(seeds),
        "--steps", str(steps), "--out", str(out), "--no-progress", *flags,
    ] + (["--preset", "none"] if env == "pendulum" else [])


def main() -> int:
    p = protocol_parser(__doc__, "gail,recoil-online", "hopper,halfcheetah,walker2d", "env steps", "runs/online-table")
    a = p.parse_args()
    for algo in a.algos.split(","):
        if algo not in ALGOS:
            p.error(f"unknown algorithm {algo!r}; choose from {sorted(ALGOS)}")
        for env in a.envs.split(","):
            if env == "pendulum":
                steps = a.steps or PENDULUM[algo][0]
                budget = f"{steps:,} env steps per seed, the small pendulum setting (not CleanIL's protocol)"
                what = f"{algo} on jaxil/pendulum/expert-v0, 10 expert trajectories, small pendulum setting"
            else:
                steps = check_steps(p, a.steps or FULL_BUDGET)
                budget = budget_label(steps, FULL_BUDGET, "env steps") + f", {NUM_EXPERT_TRAJS} expert trajectories"
                what = f"{algo} on jaxil/{env}/expert-v0, CleanIL's online protocol, CleanIL's hyperparameters"
            cmd = command(algo, env, a.seeds, steps, a.runs_dir / f"{algo}-{env}")
            if not run_recorded(HERE / "results" / f"{algo}-{env}.json", what, budget, cmd, a.dry_run):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
