"""Re-evaluate the ant expert run's policy snapshots: do any of them stay healthy?

The shipped ant expert (the run's best 20-episode evaluation, snapshot 87) ends 9 of
its 50 recorded episodes early, some within 8 steps (the torso rises above z = 1.0,
Brax's healthy range). This evaluates each given snapshot again on 50 fresh episodes
with mode actions, as the expert data are collected, and prints one JSON line per
snapshot: mean and median return, how many episodes end early and their lengths.

    python experiments/ant_expert_snapshots.py $(seq 60 100) > experiments/results/ant-expert-snapshots.jsonl

It reads the run kept by ``jaxil data make --env ant --kind expert`` (seed 0) under
``$XDG_CACHE_HOME`` (default ``~/.cache``) ``/jaxil/work/jaxil/ant/expert-v0/seed0``.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np

from jaxil import envs
from jaxil import experts
from jaxil.data.episodes import collect_episodes

RUN = experts.expert_work_dir("ant", seed=0) / experts.SNAPSHOT_DIR


def main(chunks: list[int]) -> None:
    env = envs.make("ant")
    key = jax.random.PRNGKey(12345)
    for c in chunks:
        t = time.time()
        act, _ = experts.load_policy(RUN / f"{c:05d}")
        eps = collect_episodes(env, act, jax.random.fold_in(key, c), 50)
        lengths = np.array([len(e.rewards) for e in eps])
        returns = np.array([e.ret for e in eps])
        full = lengths == env.spec.max_episode_steps
        print(json.dumps(dict(
            chunk=c, mean=float(returns.mean()), median=float(np.median(returns)), early=int((~full).sum()),
            short=sorted(lengths[~full].tolist()), full_mean=float(returns[full].mean()) if full.any() else None,
            s=round(time.time() - t, 1),
        )), flush=True)


if __name__ == "__main__":
    main([int(c) for c in sys.argv[1:]])
