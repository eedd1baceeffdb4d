"""ilpyt's benchmark table (its README; the white paper's classic-control part) on jaxil's
JAX-native envs: BC, DAgger, GAIL, GCL, AppL, DQN, A2C and PPO, 5 seeds each, 100 test
episodes, beside ilpyt's published numbers (mean / std over its test episodes, one run).

    python experiments/ilpyt_table.py data            # 100 expert episodes per env (jaxil data make)
    python experiments/ilpyt_table.py run [--rows bc,gcl] [--envs CartPole-v0] [--seeds 5]
    python experiments/ilpyt_table.py report          # experiments/results/ilpyt-table.md

Protocol: the demonstrations are 100 episodes of jaxil's expert for each env (``jaxil data
make --episodes 100``: the shipped expert's recipe and seed, trained again, so its
provenance is in the dataset), cut to 200 steps for CartPole-v0 (``--max-episode-steps 200``, gym's
v0 limit, on v1's dynamics). Each algorithm runs with its classic-control preset
(``jaxil/presets.py``) unless a cell below says otherwise; GAIL uses its PPO generator, as
ilpyt's does. Every run goes through ``experiments/record.py`` into
``experiments/results/ilpyt/``; the report takes the per-seed mean returns of the last
evaluation (100 episodes each) and gives their IQM with a 95% bootstrap CI.
LunarLander (where ilpyt reports its RL rows) needs Box2D inside jit; see the report's note.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from record import run_recorded

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "ilpyt"
TABLE = HERE / "results" / "ilpyt-table.md"
DATA_ROOT = Path("runs/ilpyt-table/data")
DEMOS = 100
EVAL_EPISODES = 100

ENVS = {  # ilpyt's column -> jaxil's env and horizon
    "CartPole-v0": ("cartpole", 200),
    "CartPole-v1": ("cartpole", None),
    "MountainCar-v0": ("mountaincar", None),
    "MountainCarContinuous-v0": ("mountaincar-continuous", None),
}
DISCRETE = {"cartpole", "mountaincar"}
ILPYT = {  # ilpyt's README table: mean / std over its test episodes, one run each
    "expert": {"CartPole-v0": (200.0, 0.0), "MountainCar-v0": (-98.71, 7.83), "MountainCarContinuous-v0": (93.36, 0.05)},
    "bc": {"CartPole-v0": (200.0, 0.0), "MountainCar-v0": (-100.8, 13.797), "MountainCarContinuous-v0": (93.353, 0.113)},
    "dagger": {"CartPole-v0": (200.0, 0.0), "MountainCar-v0": (-102.36, 15.38),
               "MountainCarContinuous-v0": (93.20, 0.17)},
    "gail": {"CartPole-v0": (200.0, 0.0), "MountainCar-v0": (-104.31, 17.21), "MountainCarContinuous-v0": (79.78, 6.23)},
    "gcl": {"CartPole-v0": (200.0, 0.0)},
    "appl": {"CartPole-v0": (200.0, 0.0), "MountainCar-v0": (-108.60, 22.843)},
}
ROWS = ("bc", "dagger", "dagger-4000-labels", "gail", "gail-log-sigmoid", "gcl", "appl", "appl-inverted", "dqn", "a2c",
        "ppo")
IMITATION = {"bc", "dagger", "dagger-4000-labels", "gail", "gail-log-sigmoid", "gcl", "appl", "appl-inverted"}


def cell_flags(row: str, env: str) -> list[str] | None:
    """The row's flags on ``env``, or None where the row does not apply."""
    discrete = env in DISCRETE
    if row == "dqn" and not discrete:
        return None
    if row == "appl-inverted" and env != "mountaincar":  # ilpyt's note is about MountainCar
        return None
    if row == "gail-log-sigmoid" and not env.startswith("mountaincar"):  # episodes the goal ends
        return None
    if row == "dagger-4000-labels":  # 20× the preset's 200 labels, where the preset falls short of ilpyt's
        return ["--steps", "4000", "--eval-every", "4000"] if env == "mountaincar" else None
    if row == "gail":  # PPO inside, as ilpyt's GAIL (the SAC preset's 12k steps are 12 MountainCarContinuous episodes)
        return ["--generator", "ppo"]
    if row == "gail-log-sigmoid":  # a reward ≤ 0, which pays for ending episodes (the goal ends them)
        return ["--generator", "ppo", "--reward-form", "log_sigmoid"]
    if row in ("appl", "appl-inverted"):  # A2C inside (ilpyt ran DQN on MountainCar: 10 DQN runs per seed cost hours here)
        return ["--invert-reward"] if row == "appl-inverted" else []
    return []


def dataset_dir(env: str) -> Path:
    return DATA_ROOT / "jaxil" / env / "expert-v0"


def cells(rows: list[str], columns: list[str], seeds: int, runs: Path):
    for column in columns:
        env, horizon = ENVS[column]
        for row in rows:
            flags = cell_flags(row, env)
            if flags is None:
                continue
            algo = row.split("-")[0]  # the row's algorithm; the rest of its name says which variant
            out = runs / f"{row}-{column}"
            command = ["jaxil", "train", algo, "--env", env, "--seeds", str(seeds), "--eval-episodes",
                       str(EVAL_EPISODES), "--no-progress", "--out", str(out), *flags]
            if horizon is not None:
                command += ["--max-episode-steps", str(horizon)]
            if row in IMITATION:
                command += ["--dataset", str(dataset_dir(env)), "--num-expert-trajs", str(DEMOS)]
            budget = "the row's classic-control preset (jaxil/presets.py) or its Config's defaults"
            yield RESULTS / f"{row}-{column}.json", f"ilpyt's table: {row} on {column}", budget, command


def make_data() -> int:
    ok = True
    for env in sorted({e for e, _ in ENVS.values()}):
        if (dataset_dir(env) / "data" / "metadata.json").exists():
            continue
        command = ["jaxil", "data", "make", "--env", env, "--episodes", str(DEMOS), "--root", str(DATA_ROOT),
                   "--no-progress"]
        print("+", " ".join(command), flush=True)
        ok &= subprocess.run(command).returncode == 0
    return 0 if ok else 1


def demonstration_return(column: str) -> float:
    """The demonstrations' mean return, cut to the column's step limit as the runs cut them."""
    import numpy as np

    from jaxil import data, envs

    env_name, horizon = ENVS[column]
    env = envs.make(env_name, max_episode_steps=horizon)
    episodes, info = data.load(str(dataset_dir(env_name).absolute()), env)
    if horizon is not None:
        episodes, info = data.at_horizon(episodes, info, env)
    return float(np.mean([e.ret for e in episodes]))


def report() -> int:
    from jaxil.stats import aggregate

    columns = list(ENVS)
    lines = ["# ilpyt's table on jaxil", "",
             "Mean return per seed over 100 test episodes (the last evaluation), IQM [95% bootstrap CI] over the "
             "seeds; ilpyt's numbers are mean / std over its test episodes of one run (its README). Commands, "
             "seeds, wall times and commits: `experiments/results/ilpyt/<row>-<column>.json`; the protocol: "
             "`experiments/ilpyt_table.py`.", "",
             "| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in ("expert",) + ROWS:
        cells_text = []
        for column in columns:
            parts = []
            path = RESULTS / f"{row}-{column}.json"
            if row == "expert" and (dataset_dir(ENVS[column][0]) / "data" / "metadata.json").exists():
                parts.append(f"{demonstration_return(column):.1f} (the {DEMOS} demonstrations' mean)")
            if path.exists():
                summary = json.loads(path.read_text())["summary"]
                per_seed = summary["return"]["per_seed"]
                agg = aggregate(per_seed)
                parts.append(f"{agg['iqm']:.1f} [{agg['ci95'][0]:.1f}, {agg['ci95'][1]:.1f}] ({len(per_seed)} seeds)")
            if column in ILPYT.get(row, {}):  # ilpyt's number beside jaxil's plain row
                mean, std = ILPYT[row][column]
                parts.append(f"ilpyt {mean:g} / {std:g}")
            cells_text.append("<br>".join(parts) or "–")
        lines.append(f"| {row} | " + " | ".join(cells_text) + " |")
    notes = (HERE / "results" / "ilpyt-notes.md")
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    TABLE.write_text("\n".join(lines) + "\n")
    print(TABLE.read_text())
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("data", "run", "report"))
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--envs", default=",".join(ENVS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--runs-dir", type=Path, default=Path("runs/ilpyt-table"))
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args()
    if a.what == "data":
        return make_data()
    if a.what == "report":
        return report()
    unknown = [r for r in a.rows.split(",") if r not in ROWS] + [e for e in a.envs.split(",") if e not in ENVS]
    if unknown:
        p.error(f"unknown rows or envs: {unknown}; rows: {ROWS}; envs: {tuple(ENVS)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    ok = True
    for out, what, budget, command in cells(a.rows.split(","), a.envs.split(","), a.seeds, a.runs_dir):
        if out.exists():
            print(f"= {out} exists; skipped", flush=True)
            continue
        ok &= run_recorded(out, what, budget, command, a.dry_run)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
