"""Learning from interaction and from preferences on MuJoCo (issue: DAgger and preference
comparisons): DAgger against BC at equal expert labels, and preference comparisons with
1000 and 5000 synthetic comparisons for each teacher kind.

    python experiments/feedback_table.py dagger --envs hopper,halfcheetah --labels 5000 --seeds 3
    python experiments/feedback_table.py preference --envs hopper --comparisons 1000,5000 --steps 100000 --seeds 3
    python experiments/feedback_table.py preference --envs hopper --comparisons 1000 --teachers oracle \
        --selection random,active --steps 50000 --seeds 3

DAgger: ``--labels`` expert labels in rounds of 4 envs × 250 steps (β linear over 3 rounds,
2000 BC updates per round, 2×256 ReLU), against BC on the first labels/1000 expert episodes
(1000 transitions each, the same number of expert-labelled transitions) with as many updates.
Preference comparisons: SAC (GAIL's generator settings, CleanIL's sizes) on the learned reward
for ``--steps`` env steps (the full budget is 1M; less is labelled reduced), 11 query rounds,
fragments of 50 steps from the last 5000 steps, 3 reward models, per teacher (``--teachers``): the oracle
(temperature 0), imitation's Bradley–Terry, 20% mistakes, "equal" within 10, myopic (0.9) and
skipping pairs below −50; pairs chosen at random or by the ensemble's disagreement
(``--selection``; the file name says which where it is not random).
Each run goes through ``experiments/record.py`` into ``experiments/results/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from record import budget_label, run_recorded

RESULTS = Path(__file__).parent / "results"
FULL_STEPS = 1_000_000
EPISODE = 1000  # MuJoCo episodes of the shipped expert data are 1000 steps (at most)
TEACHERS = {
    "oracle": ["--temperature", "0"],
    "bradley-terry": [],
    "mistakes": ["--temperature", "0", "--mistake", "0.2"],
    "equal": ["--temperature", "0", "--equal-within", "10"],
    "myopic": ["--temperature", "0", "--discount", "0.9", "--myopic"],
    "skip": ["--temperature", "0", "--skip-below", "-50"],
}


def dagger_cells(env: str, labels: int, seeds: int, runs: Path) -> list[tuple[Path, str, str, list[str]]]:
    rounds = labels // 1000
    updates = rounds * 2000
    common = ["--env", env, "--seeds", str(seeds), "--hidden", "256", "256", "--no-progress"]
    dagger = ["jaxil", "train", "dagger", *common, "--steps", str(labels), "--eval-every", str(labels),
              "--num-envs", "4", "--round-steps", "250", "--rampdown-rounds", "3", "--updates-per-round", "2000",
              "--out", str(runs / f"dagger-{env}-{labels}")]
    bc = ["jaxil", "train", "bc", *common, "--num-expert-trajs", str(labels // EPISODE), "--steps", str(updates),
          "--eval-every", str(updates), "--out", str(runs / f"bc-{env}-{labels}")]
    budget = f"{labels} expert labels (DAgger) and {labels // EPISODE} expert episodes (BC), {updates} BC updates each"
    return [(RESULTS / f"dagger-{env}-{labels}-labels.json", f"DAgger on {env}, {labels} expert labels", budget, dagger),
            (RESULTS / f"bc-{env}-{labels}-labels.json", f"BC on {env}, as many expert-labelled transitions", budget, bc)]


def preference_cells(env: str, comparisons: int, steps: int, seeds: int, runs: Path, teachers: list[str],
                     selections: list[str]):
    reduced = "-reduced" if steps < FULL_STEPS else ""
    for teacher in teachers:
        for selection in selections:
            tag = f"{teacher}" + ("" if selection == "random" else f"-{selection}")
            out = runs / f"preference-{env}-{comparisons}-{tag}"
            command = ["jaxil", "train", "preference", "--env", env, "--seeds", str(seeds), "--steps", str(steps),
                       "--eval-every", str(steps // 5), "--comparisons", str(comparisons), "--fragment-length", "50",
                       "--recent-steps", "5000", "--selection", selection,
                       *TEACHERS[teacher], "--out", str(out), "--no-progress"]
            yield (RESULTS / f"preference-{env}-{comparisons}-{tag}{reduced}.json",
                   f"preference comparisons on {env}, {comparisons} comparisons, teacher: {teacher}, "
                   f"{selection} pairs", budget_label(steps, FULL_STEPS, "env steps"), command)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("table", choices=("dagger", "preference"))
    p.add_argument("--envs", default="hopper,halfcheetah")
    p.add_argument("--labels", type=int, default=5000, help="DAgger: expert labels (a multiple of 1000)")
    p.add_argument("--comparisons", default="1000,5000", help="preference: comma-separated totals")
    p.add_argument("--steps", type=int, default=FULL_STEPS, help="preference: env steps per run")
    p.add_argument("--teachers", default=",".join(TEACHERS), help=f"preference: some of {','.join(TEACHERS)}")
    p.add_argument("--selection", default="random", help="preference: random, active, or both (random,active)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--runs-dir", type=Path, default=Path("runs/feedback-table"))
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args()
    if a.labels % 1000:
        p.error(f"--labels must be a multiple of 1000 (one round of 4 envs × 250 steps), got {a.labels}")
    cells = []
    for env in a.envs.split(","):
        if a.table == "dagger":
            cells += dagger_cells(env, a.labels, a.seeds, a.runs_dir)
        else:
            for n in a.comparisons.split(","):
                cells += list(preference_cells(env, int(n), a.steps, a.seeds, a.runs_dir, a.teachers.split(","),
                                               a.selection.split(",")))
    ok = True
    for out, what, budget, command in cells:
        ok &= run_recorded(out, what, budget, command, a.dry_run)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
