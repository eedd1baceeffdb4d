"""Model-based IRL throughput: OMLIRL's and RMIRL's iterations per second at CleanIL's
hopper settings, against the matmul peak measured in the same run.

One *iteration* is one policy update plus its share of the rest: 1/10 of a reward update,
1/250 of a rollout of 5000 starts × 40 steps, and for RMIRL 100/1000 of an adversarial model
step. Timed as the algorithm runs it: one loop step of ``make_train`` (OMLIRL: a rollout and
250 iterations; RMIRL: four of those and 100 adversarial steps), jitted, on jaxil's hopper
data (10 expert episodes, medium-replay) in the shipped hopper ensemble (7 members of 3×200
SiLU, 5 elites), networks 3×256 SiLU, batches of 256. Each part is also timed alone.

FLOPs: XLA's cost analysis of one policy update, one reward update and one adversarial step;
a rollout's matmuls counted from the layer sizes (every row, step and member that is
computed: OMLIRL's penalty needs all 7 members, RMIRL samples one elite per row). The peak
is a chain of 256×256 @ 256×256 products (the networks' layer shape), and 1024³ for scale.
Prints a table, then one JSON line.

    python experiments/bench/bench_model_irl.py [--rounds 3] [--algos omlirl,rmirl]
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

from jaxil import data, envs
from jaxil.il import model_based, omlirl, rmirl
from jaxil.models import load_dynamics, shipped_model
from jaxil.data import replay
from jaxil.rl import dynamics
from jaxil.types import concat

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import dense_flops  # noqa: E402
from bench_updates import Timer, flops_of, matmul_chain  # noqa: E402

MODULES = {"omlirl": omlirl, "rmirl": rmirl}
TARGET_FRACTION, TARGET_HOURS = 0.70, {"omlirl": 3.0, "rmirl": 2.0}


def never(obs: jax.Array) -> jax.Array:
    return jnp.zeros(obs.shape[:-1], bool)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best of each is kept")
    p.add_argument("--algos", default="omlirl,rmirl", help="comma-separated algorithms to time")
    p.add_argument("--env", default="hopper", help="a MuJoCo env with a shipped model and jaxil data")
    a = p.parse_args()
    algos = a.algos.split(",")
    if set(algos) - set(MODULES):
        p.error(f"unknown --algos {sorted(set(algos) - set(MODULES))}; choose from {sorted(MODULES)}")
    t0 = time.perf_counter()
    env = envs.make(a.env, data.recorded_backend(data.default_dataset_id(a.env)))
    expert_eps, _ = data.load(data.default_dataset_id(a.env), env)
    sub_eps, _ = data.load(data.default_dataset_id(a.env, "medium-replay"), env)
    expert, sub = data.expert_data(expert_eps[:10]), data.to_transitions(sub_eps)
    model = load_dynamics(shipped_model(a.env), env=a.env)
    obs_dim, act_dim = env.spec.obs_dim, env.spec.action_dim

    timer = Timer()
    chains = {"layer": matmul_chain(256, 256, 2000), "1024": matmul_chain(1024, 1024, 50)}
    for name, (fn, x, _) in chains.items():
        timer.add(f"matmul/{name}", fn, x)
    key = jax.random.PRNGKey(0)
    measured, compile_s = {}, {}
    for algo in algos:
        mod = MODULES[algo]
        cfg = mod.Config(steps=1000, eval_every=1000)  # CleanIL's settings; the budget only sizes chunks
        train = mod.make_train(cfg, expert, sub, model, env, terminated_fn=never)
        ts = jax.jit(train.init)(key)
        data_rows = jax.tree.map(jnp.asarray, concat(expert.train, sub))
        state, buffer = ts.learner, ts.model_buffer
        roll_model = state.model if algo == "rmirl" else dynamics.without_reward(model)
        batch = concat(jax.tree.map(lambda x: x[: cfg.real_batch], data_rows),
                       jax.tree.map(lambda x: x[: cfg.batch_size - cfg.real_batch], data_rows))
        expert_rows = jax.tree.map(lambda x: x[: cfg.reward_batch], expert.train)
        penalty = state.penalty if algo == "omlirl" else 0.0
        # first the loop step, so its model buffer holds one rollout for the parts below
        parts = {"loop_step": (jax.jit(lambda t: train.step(t)[0]), ts)}
        ts = jax.block_until_ready(parts["loop_step"][0](ts))
        buffer = ts.model_buffer

        def policy_updates(s, k, n=cfg.rollout_every):
            return jax.lax.scan(lambda s, k: (model_based.update_policy(s, batch, penalty)[0], None), s,
                                jax.random.split(k, n))[0]

        def reward_updates(s, k, n=cfg.rollout_every // cfg.reward_every):
            def one(s, k):
                fake = replay.sample(k, buffer, cfg.reward_batch)
                return model_based.update_reward(s, expert_rows, fake)[0], None

            return jax.lax.scan(one, s, jax.random.split(k, n))[0]

        def rollout(s, k):
            rows, live, info = model_based.imagine(k, s.learner, roll_model, expert.train, data_rows, cfg, never,
                                                   penalty=algo == "omlirl")
            return rows.next_obs.sum() + live.sum()

        parts |= {"policy_updates": (jax.jit(policy_updates), state, key),
                  "reward_updates": (jax.jit(reward_updates), state, key),
                  "rollout": (jax.jit(rollout), state, key)}
        if algo == "rmirl":
            def adversarial(s, k, n=cfg.model_steps):
                return jax.lax.scan(lambda s, k: model_based.adversarial_step(s, k, data_rows, expert.train, never,
                                                                             rmirl.advantage), s,
                                    jax.random.split(k, n))[0]

            parts["adversarial_steps"] = (jax.jit(adversarial), state, key)
        for part, (fn, *args) in parts.items():
            t = time.perf_counter()
            timer.add(f"{algo}/{part}", fn, *args)
            compile_s[f"{algo}/{part}"] = time.perf_counter() - t
        member = dense_flops([obs_dim + act_dim, *model.config.hidden, 2 * obs_dim])
        actor = dense_flops([obs_dim, *cfg.hidden, 2 * act_dim])
        members = model.config.members if algo == "omlirl" else 1
        flops = {
            "policy_update": flops_of(lambda s, b: model_based.update_policy(s, b, penalty)[0], state, batch),
            "reward_update": flops_of(lambda s, e, f: model_based.update_reward(s, e, f)[0], state, expert_rows,
                                      expert_rows),
            "rollout": cfg.rollout_batch * cfg.horizon * (members * member + actor),
        }
        if algo == "rmirl":
            flops["adversarial_step"] = flops_of(
                lambda s, k: model_based.adversarial_step(s, k, data_rows, expert.train, never, rmirl.advantage)[0],
                state, key)
        per_iteration = (flops["policy_update"] + flops["reward_update"] / cfg.reward_every
                         + flops["rollout"] / cfg.rollout_every
                         + flops.get("adversarial_step", 0.0) * getattr(cfg, "model_steps", 0)
                         / getattr(cfg, "model_update_every", 1))
        measured[algo] = dict(cfg=cfg, flops=flops, per_iteration=per_iteration, parts=list(parts))
    best = timer.run(a.rounds)
    peak = {name: f / best[f"matmul/{name}"] for name, (_, _, f) in chains.items()}

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.default_backend()}")
    print(f"matmul peak: {peak['layer'] / 1e9:.1f} GFLOP/s at 256x256@256x256, {peak['1024'] / 1e9:.1f} GFLOP/s at 1024^3")
    rows = []
    for algo, m in measured.items():
        cfg = m["cfg"]
        iterations = cfg.period  # one loop step
        per_s = iterations / best[f"{algo}/loop_step"]
        row = {
            "algo": algo, "iterations_per_loop_step": iterations, "loop_step_s": best[f"{algo}/loop_step"],
            "iterations_per_s": per_s, "flops_per_iteration": m["per_iteration"], "flops": m["flops"],
            "fraction_of_layer_peak": m["per_iteration"] * per_s / peak["layer"],
            "fraction_of_1024_peak": m["per_iteration"] * per_s / peak["1024"],
            "hours_per_1m_iterations": 1e6 / per_s / 3600, "target_hours": TARGET_HOURS[algo],
            # the floor these FLOPs set: every iteration at the full layer (1024^3) peak
            "hours_per_1m_at_layer_peak": 1e6 * m["per_iteration"] / peak["layer"] / 3600,
            "hours_per_1m_at_1024_peak": 1e6 * m["per_iteration"] / peak["1024"] / 3600,
            "parts_s": {part: best[f"{algo}/{part}"] for part in m["parts"]},
            "compile_and_first_call_s": {part: compile_s[f"{algo}/{part}"] for part in m["parts"]},
        }
        rows.append(row)
        print(f"\n{algo}: {per_s:.1f} iterations/s, {m['per_iteration'] / 1e6:.1f} MFLOP/iteration, "
              f"{row['fraction_of_layer_peak']:.1%} of the layer peak ({row['fraction_of_1024_peak']:.1%} of 1024^3); "
              f"1M iterations: {row['hours_per_1m_iterations']:.2f} h (target {TARGET_HOURS[algo]:g} h; at 100% of the "
              f"layer peak {row['hours_per_1m_at_layer_peak']:.2f} h, of 1024^3 {row['hours_per_1m_at_1024_peak']:.2f} h)")
        print(f"  {'part':<20}{'seconds':>9}{'compile s':>11}")
        for part in m["parts"]:
            print(f"  {part:<20}{best[f'{algo}/{part}']:>9.3f}{compile_s[f'{algo}/{part}']:>11.1f}")
    print(json.dumps({
        "bench": "model_irl", "command": "python experiments/bench/bench_model_irl.py " + " ".join(sys.argv[1:]),
        "env": a.env, "sizes": {"obs": obs_dim, "act": act_dim, "hidden": list(measured[algos[0]]["cfg"].hidden),
                                "model_members": model.config.members, "model_hidden": list(model.config.hidden),
                                "rollout": [5000, 40], "batch": 256},
        "matmul_peak_flops_layer": peak["layer"], "matmul_peak_flops_1024": peak["1024"], "rounds": a.rounds,
        "results": rows, "cpus": os.cpu_count(), "backend": jax.default_backend(),
        "target_fraction_of_layer_peak": TARGET_FRACTION, "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
