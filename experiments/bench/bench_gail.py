"""Env steps per second of off-policy GAIL on hopper: the whole training iteration
(discriminator step, SAC update on a relabeled half-expert batch, one env step, replay
write) inside one jitted ``lax.scan``, for 1, 8 and 64 vmapped seeds, plus compile time.

CleanIL's schedule and sizes: one discriminator and one SAC update per env step,
3×256 SiLU nets, discriminator batch 256 + 256, SAC batch 128 expert + 128 replay,
10 expert trajectories of jaxil's hopper data, the env on the data's (mjx) backend.
SAC alone (env reward, same loop) and the matmul peak at the layer shape are timed in the
same run, so the ratios hold on a busy machine. Prints a table, then one JSON line.

    python experiments/bench/bench_gail.py [--steps 200] [--rounds 3] [--seeds 1,8,64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax

from jaxil import data, envs
from jaxil.il import gail
from jaxil.rl import sac

from bench_updates import Timer, flops_of, matmul_chain


def loop_runner(train, steps: int):
    """``run(carry) -> carry``: ``steps`` training iterations in one scan."""

    def run(carry):
        return jax.lax.scan(lambda c, _: (train.step(c)[0], None), carry, None, length=steps)[0]

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="env steps per timed call (per seed)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best of each is kept")
    p.add_argument("--seeds", default="1,8,64", help="comma-separated vmapped seed counts")
    p.add_argument("--buffer-size", type=int, default=100_000, help="replay capacity per seed")
    a = p.parse_args()
    seed_counts = [int(s) for s in a.seeds.split(",")]
    t0 = time.perf_counter()
    env = envs.make("hopper", data.recorded_backend("jaxil/hopper/expert-v0"))
    episodes, info = data.load("jaxil/hopper/expert-v0", env)
    expert = data.expert_data(data.first_episodes(episodes, 10, info.dataset_id))
    # warm-up of one batch: the timed loop is the learning loop, not the random phase
    common = dict(buffer_size=a.buffer_size, warmup_steps=256, steps=a.steps, eval_every=a.steps)
    programs = {
        "gail": gail.make_train(gail.Config(**common), expert, env),
        "sac": sac.make_train(sac.Config(hidden=(256, 256, 256), activation="silu", **common), env),
    }
    timer = Timer()
    fn, x, matmul_flops = matmul_chain(256, 256, 2000)
    timer.add("matmul", fn, x)
    compile_s, flops = {}, {}
    for name, train in programs.items():
        flops[name] = flops_of(lambda c, t=train: t.step(c)[0], jax.jit(train.init)(jax.random.PRNGKey(0)))
        for n in seed_counts:
            if name == "sac" and n != 1:
                continue
            keys = jax.random.split(jax.random.PRNGKey(0), n)
            carry = jax.block_until_ready(jax.jit(jax.vmap(train.init))(keys))
            run = jax.jit(jax.vmap(loop_runner(train, a.steps)))
            t = time.perf_counter()
            compiled = run.lower(carry).compile()
            compile_s[f"{name}/{n}"] = time.perf_counter() - t
            timer.add(f"{name}/{n}", compiled, carry)
    best = timer.run(a.rounds)
    peak = matmul_flops / best["matmul"]
    rows = []
    for key, secs in best.items():
        if key == "matmul":
            continue
        name, n = key.split("/")
        rows.append({
            "name": name,
            "seeds": int(n),
            "env_steps_per_s_per_seed": a.steps / secs,
            "env_steps_per_s_total": int(n) * a.steps / secs,
            "updates_per_s_total": int(n) * a.steps / secs,  # one discriminator + one SAC update per env step
            "compile_s": compile_s[key],
            "flops_per_step": flops[name],
            "fraction_of_layer_matmul_peak": flops[name] * int(n) * a.steps / secs / peak,
        })
    print(f"{'program':<10}{'seeds':>6}{'steps/s/seed':>14}{'steps/s total':>15}{'compile s':>11}"
          f"{'GFLOP/step':>12}{'of peak':>9}")
    for r in rows:
        print(f"{r['name']:<10}{r['seeds']:>6}{r['env_steps_per_s_per_seed']:>14.1f}"
              f"{r['env_steps_per_s_total']:>15.1f}{r['compile_s']:>11.1f}{r['flops_per_step'] / 1e9:>12.2f}"
              f"{r['fraction_of_layer_matmul_peak']:>9.0%}")
    gail1 = next(r for r in rows if r["name"] == "gail" and r["seeds"] == 1)
    sac1 = next(r for r in rows if r["name"] == "sac")
    print(f"matmul peak (256x256 layer): {peak / 1e9:.1f} GFLOP/s, at which GAIL's FLOPs allow "
          f"{peak / flops['gail']:.0f} steps/s; GAIL/SAC step time ratio "
          f"{sac1['env_steps_per_s_per_seed'] / gail1['env_steps_per_s_per_seed']:.2f}")
    print(json.dumps({
        "bench": "gail",
        "command": "python experiments/bench/bench_gail.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items()),
        "backend": env.spec.backend,
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "layer_matmul_peak_flops": peak,
        "rows": rows,
        "gail_env_steps_per_s_1seed": gail1["env_steps_per_s_per_seed"],
        "target_env_steps_per_s_1seed": 130.0,
        # the most one seed could run if every FLOP ran at the layer matmul peak
        "gail_steps_per_s_at_layer_peak": peak / flops["gail"],
        "wall_s": time.perf_counter() - t0,
    }))


if __name__ == "__main__":
    main()
