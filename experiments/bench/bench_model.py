"""Learned-dynamics throughput: ensemble training epochs/s and one model rollout of 5000
starts × 40 steps, with and without MOPO's all-member penalty, against the matmul peak.

Hopper sizes (obs 11, act 3): 7 members of 3×200 SiLU (5 elites), a 3×256 tanh-Gaussian
actor sampling every step, CleanIL's settings. The rollout without the penalty computes
only each row's elite (rows split evenly among the elites); with it, all 7 members on
every row. FLOPs: of an epoch, XLA's cost analysis of one update times the updates; of a rollout,
the matmuls counted from the layer sizes (every row, step and member computed); the peak is a
chain of (1000×200) @ (200×200) products, the ensemble's own layer shape, timed in the
same run (and 1024³ for scale). Prints a table, then one JSON line.

    python experiments/bench/bench_model.py [--rows 20000] [--rounds 3]
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
import jax.numpy as jnp

from jaxil.nets import make_actor
from jaxil.rl import dynamics, model_rollouts

sys.path.insert(0, str(Path(__file__).parent))
from bench_updates import HOPPER, Timer, flops_of, matmul_chain, synthetic_data  # noqa: E402

STARTS, HORIZON = 5000, 40


def dense_flops(widths: list[int]) -> int:
    """Multiply-adds ×2 of one row through dense layers of these widths."""
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20_000, help="transitions the ensemble fits (an epoch is rows/256 updates)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best of each is kept")
    a = p.parse_args()
    t0 = time.perf_counter()
    cfg = dynamics.Config(steps=1, eval_every=1)
    data = synthetic_data(a.rows)
    train = dynamics.make_train(cfg, data, HOPPER)
    ts = jax.jit(train.init)(jax.random.PRNGKey(0))
    epoch = jax.jit(lambda t: train.step(t)[0])
    m = dynamics.model(ts.learner)
    actor = make_actor(HOPPER, (256, 256, 256), "silu")
    actor_params = actor.init(jax.random.PRNGKey(1), jnp.zeros((1, HOPPER.obs_dim)))

    def act(key, obs):
        return actor.apply(actor_params, obs).sample(seed=key)

    def never(o):
        return jnp.zeros(o.shape[:-1], bool)

    starts = data.obs[:STARTS]

    def rollout(key, penalty):
        t, live, info = model_rollouts.rollout(key, m, act, starts, HORIZON, never, prune="bound", penalty=penalty)
        return t.next_obs.sum() + live.sum() + (info["uncertainty"].sum() if penalty else 0.0)

    timer = Timer()
    chains = {"layer": matmul_chain(1000, 200, 2000), "1024": matmul_chain(1024, 1024, 50)}
    for name, (fn, x, _) in chains.items():
        timer.add(f"matmul/{name}", fn, x)
    compile_s = {}
    programs = {
        "epoch": (epoch, ts),
        "rollout_elite_only": (jax.jit(lambda k: rollout(k, False)), jax.random.PRNGKey(2)),
        "rollout_all_members_penalty": (jax.jit(lambda k: rollout(k, True)), jax.random.PRNGKey(2)),
    }
    # XLA's cost analysis counts a loop's body once: count one update times the epoch's
    # updates; a rollout's matmuls are counted from the layer sizes (XLA's count of a
    # one-step rollout leaves out the actor, which it counts alone)
    obs, act_dim, out_dim = HOPPER.obs_dim, HOPPER.action_dim, HOPPER.obs_dim + 1
    member = dense_flops([obs + act_dim, *cfg.hidden, 2 * out_dim])
    policy = dense_flops([obs, 256, 256, 256, 2 * act_dim])
    updates_per_epoch = (a.rows - dynamics.holdout_size(cfg, a.rows)) // cfg.batch_size
    member_rows = jax.tree.map(lambda x: x[: cfg.members * cfg.batch_size].reshape((cfg.members, cfg.batch_size)
                                                                                   + x.shape[1:]), data)
    flops = {
        "epoch": updates_per_epoch * flops_of(lambda s, b: dynamics.update(s, b)[0], ts.learner, member_rows),
        "rollout_elite_only": HORIZON * STARTS * (member + policy),
        "rollout_all_members_penalty": HORIZON * STARTS * (cfg.members * member + policy),
    }
    for name, (fn, arg) in programs.items():
        t = time.perf_counter()
        timer.add(name, fn, arg)
        compile_s[name] = time.perf_counter() - t
    best = timer.run(a.rounds)
    peak = {name: f / best[f"matmul/{name}"] for name, (_, _, f) in chains.items()}
    rows = []
    for name in programs:
        rows.append({
            "name": name, "seconds": best[name], "flops": flops[name],
            "fraction_of_layer_peak": flops[name] / best[name] / peak["layer"],
            "fraction_of_1024_peak": flops[name] / best[name] / peak["1024"],
            "compile_and_first_call_s": compile_s[name],
        })
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.default_backend()}")
    print(f"matmul peak: {peak['layer'] / 1e9:.1f} GFLOP/s at 1000x200@200x200, {peak['1024'] / 1e9:.1f} GFLOP/s at 1024^3")
    print(f"{'program':<30}{'seconds':>9}{'GFLOP':>9}{'of layer peak':>15}{'compile s':>11}")
    for r in rows:
        print(f"{r['name']:<30}{r['seconds']:>9.3f}{r['flops'] / 1e9:>9.1f}{r['fraction_of_layer_peak']:>15.1%}"
              f"{r['compile_and_first_call_s']:>11.1f}")
    print(f"ensemble training: {1 / best['epoch']:.2f} epochs/s of {updates_per_epoch} updates "
          f"({updates_per_epoch / best['epoch']:.0f} updates/s, 7 members x 256 rows each)")
    print(json.dumps({
        "bench": "model", "command": "python experiments/bench/bench_model.py " + " ".join(sys.argv[1:]),
        "sizes": {"obs": 11, "act": 3, "members": 7, "elites": 5, "hidden": [200, 200, 200], "actor": [256, 256, 256],
                  "starts": STARTS, "horizon": HORIZON, "rows": a.rows},
        "matmul_peak_flops_layer": peak["layer"], "matmul_peak_flops_1024": peak["1024"],
        "epochs_per_s": 1 / best["epoch"], "updates_per_epoch": updates_per_epoch,
        "results": rows, "cpus": os.cpu_count(), "backend": jax.default_backend(),
        "target_fraction_of_layer_peak": 0.65, "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
