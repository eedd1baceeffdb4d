"""Evaluate every kept checkpoint of a RECOIL-online run (whose state holds a SAC learner)
per seed, with the policy's mode and with sampled actions.

``jaxil eval`` scores the latest checkpoint with mode actions only; this asks whether a
collapse seen there is already present one checkpoint earlier, and whether it is the
mode's or the policy's (a narrow policy can fall by its mode yet walk when sampling).
Prints one JSON line per (checkpoint, seed, action choice).

    python experiments/eval_run_checkpoints.py runs/online-table/recoil-online-walker2d [--episodes 50]
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import jax
import numpy as np

from jaxil import driver, envs
from jaxil.cli import load_run
from jaxil.evaluation import policy_metrics
from jaxil.il import offline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=7, help="evaluation key")
    a = p.parse_args()
    rc, train, reference, _ = load_run(a.run_dir)
    env = envs.make(rc["env"], rc["backend"])
    like = driver.abstract_carry(train, rc["seeds"])

    @partial(jax.jit, static_argnames="deterministic")
    def score(agent, key, deterministic):
        return policy_metrics(env, lambda o: offline.learner_policy(agent, o), key, a.episodes, reference, deterministic)

    for step in driver.checkpoint_steps(a.run_dir):
        carry = driver.restore(a.run_dir, like, step)
        for i, s in enumerate(rc["seeds"]):
            agent = jax.tree.map(lambda x: x[i], carry.state.agent)
            for deterministic in (True, False):
                m = jax.device_get(score(agent, jax.random.PRNGKey(a.seed), deterministic))
                print(json.dumps({"run": str(a.run_dir), "checkpoint_chunk": int(step), "seed": s,
                                  "actions": "mode" if deterministic else "sampled", "episodes": a.episodes,
                                  **{k: round(float(np.mean(v)), 2) for k, v in m.items()}}), flush=True)


if __name__ == "__main__":
    main()
