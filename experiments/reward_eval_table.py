"""What the reward learners' rewards are worth (issue: reward evaluation): for every reward
learner on pendulum and hopper, and MCE IRL on CliffWorld, the policy's score, the EPIC
distance of the learned reward to the true one, and the score of a fresh agent trained on the
learned reward alone.

    python experiments/reward_eval_table.py run --envs pendulum,cliffworld --seeds 5
    python experiments/reward_eval_table.py run --envs hopper --algos airl,omlirl --seeds 2
    python experiments/reward_eval_table.py report   # writes experiments/results/reward-eval.md

Per cell three recorded commands (``experiments/record.py``), each into
``experiments/results/reward-eval/``: ``jaxil train`` (``<algo>-<env>.json``), ``jaxil
reward-eval`` (``-epic.json``: EPIC, sampled on the expert data's transitions with uniform
actions, or exact on the tabular MDP) and ``jaxil reward-transfer`` (``-transfer.json``: the
env's expert recipe, SAC, on the learned reward; value iteration on CliffWorld).
Pendulum runs each learner's classic-control preset where it has one; GCL and AppL have none
and run PPO as the GAIL/AIRL PPO-generator preset does (γ 0.95, 16 envs × 128 steps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from record import run_recorded

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "reward-eval"
LEARNERS = ("gail", "airl", "density", "gcl", "appl", "preference", "omlirl", "rmirl", "mce-irl")
TABULAR = ("mce-irl",)
# pendulum: what each learner runs beyond its preset (GCL and AppL have none on classic control)
_PPO = ["--gamma", "0.95", "--num-envs", "16", "--rollout-steps", "128"]
PENDULUM_FLAGS = {
    "gcl": [*_PPO, "--steps", "307200", "--eval-every", "61440"],
    "appl": [*_PPO, "--solver", "ppo", "--solver-steps", "204800", "--solver-lr", "1e-3"],
}
# model-based IRL needs a dynamics model of the sub-optimal data (jaxil ships hopper's);
# pendulum's is fitted first, as tests/test_model_irl.py fits it
PENDULUM_SUBOPTIMAL = "jaxil/pendulum/medium-v0"
PENDULUM_DYNAMICS = ["--members", "5", "--elites", "3", "--hidden", "64", "64", "--lr", "1e-3", "--steps", "60",
                     "--eval-every", "20"]
# hopper, reduced: CleanIL's online budget is 1M env steps, its model-based one 1M updates
HOPPER_FLAGS = {
    **dict.fromkeys(("gail", "airl", "density", "preference"), ["--steps", "30000", "--eval-every", "10000"]),
    **dict.fromkeys(("omlirl", "rmirl"), ["--suboptimal-dataset", "jaxil/hopper/medium-replay-v0", "--steps",
                                          "10000", "--eval-every", "2000"]),
    # GCL's own budget (PPO, 8 envs × 32 steps); far below what PPO needs to hop
    "gcl": ["--steps", "102400", "--eval-every", "51200"],
    # three solver runs of PPO (pendulum's rollout shape), each far below what PPO needs to hop
    "appl": ["--solver", "ppo", "--num-envs", "16", "--rollout-steps", "128", "--solver-steps", "102400",
             "--steps", "3", "--eval-every", "1", "--feature-episodes", "10", "--eval-episodes", "10"],
}
HOPPER_BUDGET = {"gail": "30,000 env steps per seed (reduced: CleanIL's is 1,000,000)",
                 "airl": "30,000 env steps per seed (reduced: CleanIL's is 1,000,000)",
                 "density": "30,000 env steps per seed (reduced: CleanIL's is 1,000,000)",
                 "preference": "30,000 env steps per seed (reduced, as GAIL's row)",
                 "omlirl": "10,000 updates per seed (reduced: CleanIL's is 1,000,000), all of medium-replay-v0",
                 "rmirl": "10,000 updates per seed (reduced: CleanIL's is 1,000,000), all of medium-replay-v0",
                 "gcl": "102,400 env steps per seed (GCL's default; reduced for hopper)",
                 "appl": "3 outer iterations of 102,400 PPO env steps per seed (reduced: the default is 10 of 120,000)"}
# the fresh agent's env steps: pendulum's SAC recipe reaches the expert by 6,000 steps of its
# 20,000 on the true reward (experiments/results/presets/sac-pendulum.json); hopper's 1M is hours
TRANSFER_STEPS = {"pendulum": 10_000, "hopper": 40_000}
EPIC_SAMPLES = 1000
# what the transfer's agent reaches on the true reward with the same budget: the ceiling a
# learned reward's transfer is read against
BASELINE_FLAGS = {
    "pendulum": ["--steps", str(TRANSFER_STEPS["pendulum"])],  # the sac preset is pendulum's expert recipe
    "hopper": ["--steps", str(TRANSFER_STEPS["hopper"]), "--eval-every", "20000", "--eval-episodes", "10",
               "--warmup-steps", "10000", "--buffer-size", "1010000"],  # hopper's recipe, its budget cut
}


def baseline_cell(env: str, seeds: int, runs: Path):
    steps = TRANSFER_STEPS[env]
    command = ["jaxil", "train", "sac", "--env", env, "--seeds", str(seeds), "--out", str(runs / f"sac-{env}-true-reward"),
               "--no-progress", *BASELINE_FLAGS[env]]
    return (OUT / f"true-reward-{env}.json", f"the transfer's agent (the expert recipe's SAC) on {env}'s true reward",
            f"{steps:,} env steps per seed, the transfer's budget", command)


def cells(algo: str, env: str, seeds: int, runs: Path):
    """(results file, what, budget, command) of the cell's train, reward-eval and transfer runs."""
    run = runs / f"{algo}-{env}"
    train = ["jaxil", "train", algo, "--env", env, "--seeds", str(seeds), "--out", str(run), "--no-progress"]
    if env == "pendulum":
        train += PENDULUM_FLAGS.get(algo, [])
        budget = "the classic-control preset's" if algo not in PENDULUM_FLAGS else "as the command says"
        if algo in ("omlirl", "rmirl"):
            train += ["--dynamics", str(runs / "dynamics-pendulum"), "--suboptimal-dataset", PENDULUM_SUBOPTIMAL]
    elif env == "hopper":
        train += HOPPER_FLAGS.get(algo, [])
        budget = HOPPER_BUDGET.get(algo, "CleanIL's defaults")
    else:
        budget = "the Config's defaults"
    name = f"{algo}-{env}"
    yield OUT / f"{name}.json", f"{algo} on {env}: the policy (the run the reward comes from)", budget, train
    epic = ["jaxil", "reward-eval", str(run)]
    if env not in ("cliffworld",):
        epic += ["--samples", str(EPIC_SAMPLES)]
    yield OUT / f"{name}-epic.json", f"EPIC of {algo}'s learned reward to {env}'s true reward", budget, epic
    transfer = ["jaxil", "reward-transfer", str(run), "--no-progress"]
    if env in TRANSFER_STEPS:
        transfer += ["--steps", str(TRANSFER_STEPS[env])]
    what = f"a fresh agent on {algo}'s learned reward alone, scored on {env}'s true reward"
    steps = TRANSFER_STEPS.get(env)
    yield (OUT / f"{name}-transfer.json", what,
           f"{steps:,} env steps of the env's expert recipe per seed" if steps else "exact (value iteration)", transfer)


def run(a: argparse.Namespace) -> int:
    ok = True
    for env in a.envs.split(","):
        algos = [x for x in a.algos.split(",") if (x in TABULAR) == (env == "cliffworld")]
        groups = [list(cells(algo, env, a.seeds, a.runs_dir)) for algo in algos]  # one learner's runs each
        if env in BASELINE_FLAGS and a.baseline:
            groups.insert(0, [baseline_cell(env, a.seeds, a.runs_dir)])
        if env == "pendulum" and {"omlirl", "rmirl"} & set(algos):
            groups.insert(0, [(OUT / "dynamics-pendulum.json", "pendulum's dynamics ensemble for OMLIRL and RMIRL",
                               "tests/test_model_irl.py's fit",
                               ["jaxil", "train", "dynamics", "--env", "pendulum", "--dataset", PENDULUM_SUBOPTIMAL,
                                *PENDULUM_DYNAMICS, "--out", str(a.runs_dir / "dynamics-pendulum"), "--no-progress"])])
        for group in groups:
            for out, what, budget, command in group:
                if out.is_file() and not a.dry_run:
                    print(f"= {out} exists; skipped", flush=True)
                    continue
                if not run_recorded(out, what, budget, command, a.dry_run):
                    ok = False
                    break  # the group's later commands need its run
    return 0 if ok else 1


def fmt(agg: dict | None, digits: int = 1) -> str:
    if agg is None:
        return "–"
    lo, hi = agg["ci95"]
    return f"{agg['iqm']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def score(summary: dict) -> dict | None:
    from jaxil.stats import aggregate

    if "normalized_score" in summary:
        return summary["normalized_score"]
    return aggregate(summary["return"]["per_seed"]) if "return" in summary else None


def report(_: argparse.Namespace) -> int:
    lines = [
        "# Reward evaluation: what each learned reward is worth",
        "",
        "Per learner: the normalized score of its own policy (100 = the expert data, 0 = random), the EPIC "
        "distance from its learned reward to the env's true reward (0 = the same reward up to potential "
        "shaping and positive rescaling, 1 = its negation; Gleave et al. 2021), and the normalized score of "
        "a fresh agent trained on the learned reward alone and scored on the true one (reward transfer). "
        "IQM [95% bootstrap CI] over the seeds. Commands, seeds, budgets, wall times and commits: "
        "`experiments/results/reward-eval/<algo>-<env>[-epic|-transfer].json`; the protocol: "
        "`experiments/reward_eval_table.py`.",
        "",
        "| env | learner | seeds | policy score | EPIC to true reward | transfer score | budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for env in ("pendulum", "hopper", "cliffworld"):
        base = OUT / f"true-reward-{env}.json"
        if base.is_file():
            b = json.loads(base.read_text())
            lines.append(f"| {env} | *true reward* (the transfer's agent) | {len(b['seeds'])} | – | 0 | "
                         f"{fmt(score(b['summary']))} | {b['budget']} |")
        for algo in LEARNERS:
            f = OUT / f"{algo}-{env}.json"
            if not f.is_file():
                continue
            train = json.loads(f.read_text())
            epic = OUT / f"{algo}-{env}-epic.json"
            transfer = OUT / f"{algo}-{env}-transfer.json"
            e = json.loads(epic.read_text())["summary"]["reward_eval"]["epic"] if epic.is_file() else None
            t = score(json.loads(transfer.read_text())["summary"]) if transfer.is_file() else None
            lines.append(f"| {env} | {algo} | {len(train['seeds'])} | {fmt(score(train['summary']))} | "
                         f"{fmt(e, 3)} | {fmt(t)} | {train['budget']} |")
    lines += ["", Path(__file__).with_name("reward_eval_notes.md").read_text().rstrip()]
    (RESULTS / "reward-eval.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train, evaluate and transfer each cell (recorded)")
    r.add_argument("--algos", default=",".join(LEARNERS))
    r.add_argument("--envs", default="pendulum,hopper,cliffworld")
    r.add_argument("--seeds", type=int, default=5)
    r.add_argument("--runs-dir", type=Path, default=Path("runs/reward-eval"))
    r.add_argument("--dry-run", action="store_true")
    r.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the transfer agent's run on the true reward")
    sub.add_parser("report", help="write experiments/results/reward-eval.md from the recorded runs")
    a = p.parse_args()
    unknown = set(getattr(a, "algos", "").split(",")) - set(LEARNERS) - {""}
    if unknown:
        p.error(f"unknown learners {sorted(unknown)}; choose from {','.join(LEARNERS)}")
    return run(a) if a.cmd == "run" else report(a)


if __name__ == "__main__":
    sys.exit(main())
