"""MCE IRL iterations/s: CliffWorld (28 states, 4 actions, horizon 8) and a 1000-state random
MDP (4 actions, 10 successors, horizon 20, 16-d observations), alone and 64 of each vmapped
(64 different random MDPs; 64 seeds on CliffWorld), against the matmul peak.

One iteration solves the MDP for the current reward (soft value iteration, H − 1 backups of
2·S·A·S FLOPs), rolls its occupancy forward (H steps of about 2·S·A·S) and takes one Adam step
of the 256-unit reward MLP on all S observations. FLOPs are counted from those sizes (XLA's
cost analysis counts a loop's body once); the peak is a chain of 1024³ products timed in the
same run. Prints a table, then one JSON line.

    python experiments/bench/bench_mce_irl.py [--iterations 20] [--batch 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax

from jaxil.envs.tabular import TabularEnv, cliffworld, random_mdp
from jaxil.il import mce_irl
from jaxil.rl import tabular

sys.path.insert(0, str(Path(__file__).parent))
from bench_updates import Timer, matmul_chain  # noqa: E402


def iteration_flops(states: int, actions: int, horizon: int, obs_dim: int, hidden: int) -> float:
    solve = 2.0 * states * actions * states * (2 * horizon - 1)
    reward = 3 * 2.0 * states * (obs_dim * hidden + hidden)  # forward, and backward ≈ 2× forward
    return solve + reward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=20, help="MCE IRL iterations per timed call (one scan)")
    p.add_argument("--batch", type=int, default=64, help="MDPs (or seeds) vmapped in the batched programs")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best of each is kept")
    a = p.parse_args()
    cfg = mce_irl.Config()
    hidden = cfg.reward_hidden[0]
    problems = {
        "cliffworld": lambda key: cliffworld(),
        "random-1000": lambda key: random_mdp(key, 1000, 4, 10, 20, random_obs=True, obs_dim=16),
    }

    def run(mdp, demo, key):
        """``iterations`` MCE IRL iterations from a fresh reward against the demonstrator's occupancy."""
        state = mce_irl.init(key, cfg, TabularEnv(mdp).spec, mdp)
        state, metrics = jax.lax.scan(lambda s, _: mce_irl.update(s, demo), state, None, length=a.iterations)
        return metrics["linf"][-1]

    timer, compile_s, flops, sizes = Timer(), {}, {}, {}
    fn, x, peak_flops = matmul_chain(1024, 1024, 50)
    timer.add("matmul/1024", fn, x)
    keys = jax.random.split(jax.random.PRNGKey(0), a.batch)
    for name, make_mdp in problems.items():
        # the MDPs and their demonstrators' occupancies are made before timing: only iterations are timed
        mdps = jax.jit(jax.vmap(make_mdp))(keys)
        demos = jax.jit(jax.vmap(lambda m: tabular.occupancy_measures(m)[1]))(mdps)
        mdp, demo = jax.tree.map(lambda x: x[0], (mdps, demos))
        s, act, h, d = mdp.num_states, mdp.num_actions, mdp.horizon, mdp.observation.shape[1]
        sizes[name] = {"states": s, "actions": act, "horizon": h, "obs_dim": d}
        for label, prog, args, copies in ((name, jax.jit(run), (mdp, demo, keys[0]), 1),
                                          (f"{name} x{a.batch}", jax.jit(jax.vmap(run)), (mdps, demos, keys), a.batch)):
            t = time.perf_counter()
            timer.add(label, prog, *args)
            compile_s[label] = time.perf_counter() - t
            flops[label] = copies * a.iterations * iteration_flops(s, act, h, d, hidden)
    best = timer.run(a.rounds)
    peak = peak_flops / best["matmul/1024"]
    rows = []
    for label in flops:
        seconds = best[label]
        copies = a.batch if " x" in label else 1
        rows.append({"name": label, "mdps": copies, "iterations_per_s": a.iterations / seconds,
                     "mdp_iterations_per_s": copies * a.iterations / seconds,
                     "fraction_of_1024_peak": flops[label] / seconds / peak,
                     "compile_and_first_call_s": compile_s[label]})
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.default_backend()}")
    print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s at 1024^3; {a.iterations} iterations per call, best of {a.rounds}")
    print(f"{'program':<22}{'iterations/s':>14}{'MDP-iterations/s':>18}{'of peak':>9}{'compile s':>11}")
    for r in rows:
        print(f"{r['name']:<22}{r['iterations_per_s']:>14.1f}{r['mdp_iterations_per_s']:>18.1f}"
              f"{r['fraction_of_1024_peak']:>9.1%}{r['compile_and_first_call_s']:>11.1f}")
    print(json.dumps({
        "bench": "mce_irl", "command": "python experiments/bench/bench_mce_irl.py " + " ".join(sys.argv[1:]),
        "sizes": sizes, "reward_hidden": list(cfg.reward_hidden), "iterations": a.iterations, "batch": a.batch,
        "matmul_peak_flops_1024": peak, "programs": rows,
        "machine": {"arch": platform.machine(), "cpus": os.cpu_count(), "backend": jax.default_backend(),
                    "jax": jax.__version__},
    }))


if __name__ == "__main__":
    main()
