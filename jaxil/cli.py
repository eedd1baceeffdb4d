"""The ``jaxil`` command line.

    jaxil train ALGO --env ENV [--dataset ID_OR_PATH] [--num-expert-trajs N] [--seed S]
                     [--seeds N] [--steps N] [--out DIR] [--backend B] [algorithm flags]
    jaxil sweep ALGO --env ENV --grid NAME=V1,V2,... [--grid ...] [--seeds N] [train flags]
    jaxil eval DIR [--episodes N]
    jaxil reward-transfer DIR [--steps N] [--out DIR]
    jaxil reward-eval DIR [--samples N] [--actions uniform|data] [--gamma G]
    jaxil plot DIR [DIR ...] [--metric normalized_score] [--kind curves|profile|improvement] [--out FILE]
    jaxil export-model DIR --out DIR [--seed S]
    jaxil data list [--json]
    jaxil data make --env ENV [--kind expert|medium|medium-replay|random] [--seed S] [--episodes N] [--root DIR]
                   [--work-dir DIR]
    jaxil data import-d4rl FILE --env ENV [--dataset-id ID] [--ref-min R --ref-max R] [--root DIR]

Algorithm flags are generated from each algorithm's ``Config`` (``jaxil train bc -h``).
A run writes ``DIR/config.json``, ``DIR/metrics.csv``, ``DIR/checkpoints/`` and
``DIR/summary.json``; the last line on stdout is the summary as one JSON object.
"""


import dataclasses
import importlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from jaxil.data.datasets import DEFAULT_EXPERT_TRAJS
from jaxil.errors import JaxilError
from jaxil.configs import config_from_json, config_to_json

ONLINE_EXPERT_TRAJS = 10  # CleanIL's online protocol (offline algorithms get 20)
MAX_SEED = 2**31 - 1

@dataclasses.dataclass(frozen=True)
class Algo:
    """What the command line knows of an algorithm besides its module's contract.

    kind: "offline" learns from expert datasets, "offline+suboptimal" also from a
        sub-optimal dataset, "online" from expert data and the env, "rl" from the env's reward,
        "model" fits a dynamics model to a dataset's transitions (no policy; scored by hold-out error),
        "offline-model" learns from a dataset's transitions and a fitted dynamics model,
        "model-irl" from expert data, a sub-optimal dataset and a dynamics model fitted to both,
        "tabular" from a tabular MDP's known dynamics and its soft-optimal demonstrator,
        "interactive" from an expert policy that labels the states the learner visits.
    reward: "transferable" for reward learners whose ``learned_reward`` is meant to be
        reused (``jaxil reward-transfer`` takes their runs), "discriminator" for those whose
        learned reward is a classifier's score of the current policy, None otherwise.
    """

    module: str
    kind: str
    reward: str | None = None


ALGOS: dict[str, Algo] = {
    "bc": Algo("jaxil.il.bc", "offline"),
    "iqlearn": Algo("jaxil.il.iqlearn", "offline"),
    "ibc": Algo("jaxil.il.ibc", "offline"),
    "recoil": Algo("jaxil.il.recoil", "offline+suboptimal"),
    "gail": Algo("jaxil.il.gail", "online", reward="discriminator"),
    "airl": Algo("jaxil.il.airl", "online", reward="transferable"),
    "sqil": Algo("jaxil.il.sqil", "online"),
    "recoil-online": Algo("jaxil.il.recoil_online", "online"),
    "density": Algo("jaxil.il.density", "online", reward="transferable"),
    "gcl": Algo("jaxil.il.gcl", "online", reward="transferable"),
    "appl": Algo("jaxil.il.appl", "online", reward="transferable"),
    "dagger": Algo("jaxil.il.dagger", "interactive"),
    "preference": Algo("jaxil.il.preference", "rl", reward="transferable"),
    "ppo": Algo("jaxil.rl.ppo", "rl"),
    "a2c": Algo("jaxil.rl.a2c", "rl"),
    "sac": Algo("jaxil.rl.sac", "rl"),
    "dqn": Algo("jaxil.rl.dqn", "rl"),
    "dynamics": Algo("jaxil.rl.dynamics", "model"),
    "mopo": Algo("jaxil.rl.mopo", "offline-model"),
    "rambo": Algo("jaxil.rl.rambo", "offline-model"),
    "mbpo": Algo("jaxil.rl.mbpo", "rl"),
    "omlirl": Algo("jaxil.il.omlirl", "model-irl", reward="transferable"),
    "rmirl": Algo("jaxil.il.rmirl", "model-irl", reward="transferable"),
    "rmirl-implicit": Algo("jaxil.il.rmirl_implicit", "model-irl"),
    "mce-irl": Algo("jaxil.il.mce_irl", "tabular", reward="transferable"),
}


def algo_module(name: str):
    if name not in ALGOS:
        raise JaxilError(f"unknown algorithm {name!r}; choose one of: {', '.join(ALGOS)}.")
    return importlib.import_module(ALGOS[name].module)


PRESET_CHOICES = ("auto", "none")


def flag_value(argv: list[str], flag: str) -> str | None:
    """The value of ``flag`` in a command line (``--flag V`` or ``--flag=V``), if given."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def run_preset(algo: str, argv: list[str]) -> tuple[str | None, dict]:
    """The preset a ``jaxil train ALGO`` command line starts from: its ``--env``'s (and
    ``--generator``'s), or none with ``--preset none``."""
    from jaxil.presets import preset

    env, choice = flag_value(argv, "--env"), flag_value(argv, "--preset")
    if choice not in (None, *PRESET_CHOICES):
        raise JaxilError(f"--preset must be one of {', '.join(PRESET_CHOICES)}, got {choice!r}.")
    if env is None or choice == "none":
        return None, {}
    return preset(algo, env, flag_value(argv, "--generator"))


def train_args_class(algo: str, argv: list[str] | None = None):
    """The dataclass tyro parses for ``jaxil train ALGO``: run flags + the algorithm's
    Config, whose defaults start from the command line's preset (``jaxil.presets``)."""
    Config = algo_module(algo).Config
    family, overrides = run_preset(algo, argv or [])
    env = flag_value(argv or [], "--env")

    @dataclasses.dataclass
    class TrainArgs:
        env: str
        """environment id (jaxil data list shows those with data)."""
        config: Annotated[Config, tyro.conf.OmitArgPrefixes] = dataclasses.field(
            default_factory=lambda: Config(**overrides)
        )
        dataset: str | None = None
        """dataset id or path (default: jaxil/<env>/expert-v0)."""
        num_expert_trajs: int | None = (None if ALGOS[algo].kind == "tabular" else ONLINE_EXPERT_TRAJS
                                        if ALGOS[algo].kind in ("online", "model", "model-irl", "interactive")
                                        else DEFAULT_EXPERT_TRAJS)
        """use the first N episodes of the dataset (None: all); on a tabular env, N trajectories sampled
        from the soft-optimal demonstrator (None: its exact occupancy); DAgger takes only their
        observation statistics and held-out metrics (its labels come from the expert policy)."""
        seed: int = 0
        """first seed; the run uses seed, seed+1, ..., seed+seeds-1."""
        seeds: int = 1
        """number of seeds, run in parallel on accelerators."""
        out: str | None = None
        """run directory (default: runs/<algo>-<env>-s<seed>x<seeds>)."""
        backend: str | None = None
        """Brax physics backend (MuJoCo envs only)."""
        checkpoint_every: int = 1
        """chunks (evaluations) between checkpoints."""
        resume: bool = True
        """resume from the run directory's latest checkpoint if there is one."""
        progress: bool = True
        """show a progress bar."""
        log: str = "csv"
        """"csv" (metrics.csv) or "tensorboard" (metrics.csv plus TensorBoard events in RUN/tensorboard)."""
        vectorize: bool | None = None
        """vmap seeds (default: on accelerators; on CPU seeds run one after another)."""
        devices: int | None = None
        """local devices the vmapped seeds are spread over (default: as many as divide --seeds)."""
        coordinator_address: str | None = None
        """HOST:PORT of process 0 in a multi-process run (or JAX_COORDINATOR_ADDRESS; see jaxil.hosts)."""
        num_processes: int | None = None
        """processes in a multi-process run (or JAX_NUM_PROCESSES); each runs its share of the seeds."""
        process_id: int | None = None
        """this process's index, 0..num_processes-1 (or JAX_PROCESS_ID); process 0 writes the summary."""
        init_timeout: int = 300
        """seconds a multi-process run waits for every process to join."""
        preset: str = "auto"
        """"auto": start from the env's preset (jaxil/presets.py); "none": the Config's defaults."""
        allow_env_mismatch: bool = False
        """use an external dataset recorded on another task or step limit than --env's (refused otherwise)."""
        max_episode_steps: int | None = None
        """episode step limit in place of the env's (e.g. 200 for gym's CartPole-v0); demonstrations are cut
        to it and the normalized score's references measured for it."""

    if ALGOS[algo].kind == "offline+suboptimal":

        @dataclasses.dataclass
        class TrainArgs(TrainArgs):  # noqa: F811
            suboptimal_dataset: str | None = None
            """sub-optimal dataset id or path, all episodes (default: jaxil/<env>/medium-replay-v0)."""

    if ALGOS[algo].kind == "model":

        @dataclasses.dataclass
        class TrainArgs(TrainArgs):  # noqa: F811
            dataset: str | None = None
            """transitions to fit, all episodes (default: jaxil/<env>/medium-replay-v0)."""
            expert_dataset: str | None = None
            """expert data whose first --num-expert-trajs episodes join the rows (default: jaxil/<env>/expert-v0)."""

    if ALGOS[algo].kind == "offline-model":

        @dataclasses.dataclass
        class TrainArgs(TrainArgs):  # noqa: F811
            dataset: str | None = None
            """transitions to learn from, all episodes (default: jaxil/<env>/medium-v0)."""
            model: Annotated[str | None, tyro.conf.arg(aliases=("--dynamics",))] = None
            """a fitted dynamics model with a reward head: a jaxil train dynamics run directory or a
            jaxil export-model directory (default: the model jaxil ships for the env, if any)."""

    if ALGOS[algo].kind == "model-irl":

        @dataclasses.dataclass
        class TrainArgs(TrainArgs):  # noqa: F811
            suboptimal_dataset: str | None = None
            """sub-optimal dataset id or path, all episodes (default: jaxil/<env>/medium-replay-v0)."""
            model: Annotated[str | None, tyro.conf.arg(aliases=("--dynamics",))] = None
            """a dynamics model fitted to the sub-optimal dataset (plus expert episodes): a jaxil train
            dynamics run directory or a jaxil export-model directory (default: the model jaxil ships for
            the env, fitted to its medium-replay data and 10 expert episodes)."""

    TrainArgs.__name__ = f"train_{algo}"
    TrainArgs.__doc__ = f"Train {algo} (see jaxil.{ALGOS[algo].module.split('.', 1)[1]})." + (
        f" Defaults shown include the {family} preset for --env {env} ({preset_text(overrides)}); flags override it."
        if overrides else " With --env, defaults start from the env's preset (jaxil.presets) where it has one."
    )
    return TrainArgs


def preset_text(overrides: dict) -> str:
    return ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in overrides.items())


def absolute(dataset: str | None) -> str | None:
    """A dataset path made absolute (so `jaxil eval` works from anywhere); ids unchanged."""
    if dataset is not None and Path(dataset).expanduser().exists():
        return str(Path(dataset).expanduser().absolute())
    return dataset


def build(*args, **kwargs):
    """(train, run_config, reference) for one run description: :func:`build_maker`'s
    ``make`` applied to the config."""
    make, run_config, reference = build_maker(*args, **kwargs)
    return make(args[3] if len(args) > 3 else kwargs["config"]), run_config, reference


def build_maker(
    algo: str,
    env_name: str,
    backend: str | None,
    config,
    dataset: str | None,
    num_trajs: int | None,
    suboptimal_dataset: str | None = None,
    allow_env_mismatch: bool = False,
    expert_dataset: str | None = None,
    model: str | None = None,
    max_episode_steps: int | None = None,
):
    """(make, run_config, reference) for one run description: ``make(config) -> Train``
    with the data, env and model loaded once (a sweep calls it on traced Configs). Without
    ``backend``, a MuJoCo env takes the physics backend its jaxil dataset was recorded with.
    ``max_episode_steps`` replaces the env's step limit; the demonstrations are cut to it and
    the references measured for it (:func:`jaxil.data.datasets.at_horizon`)."""
    from jaxil import data, envs
    from jaxil.evaluation import Reference

    mod = algo_module(algo)
    kind = ALGOS[algo].kind
    dataset, suboptimal_dataset = absolute(dataset), absolute(suboptimal_dataset)
    if backend is None and env_name in envs.BRAX_ENVS:
        backend = data.recorded_backend(dataset or data.default_dataset_id(env_name))
    horizon = max_episode_steps
    if horizon is not None and kind in ("model", "offline-model", "model-irl", "tabular"):
        raise JaxilError(f"--max-episode-steps applies to runs that act in the env or learn from its episodes; {algo} ({kind}) "
                         "takes none.")
    env = envs.make(env_name, backend, horizon)
    run_config: dict[str, Any] = {
        "algo": algo,
        "env": env_name,
        "backend": env.spec.backend,
        **({"max_episode_steps": horizon} if horizon is not None else {}),
        "config": config_to_json(config),
    }
    if kind == "model":  # CleanIL's dynamics pretraining: the dataset's rows plus expert episodes
        dataset, expert_dataset = absolute(dataset), absolute(expert_dataset)
        episodes, info = data.load(dataset or data.default_dataset_id(env_name, "medium-replay"), env, allow_env_mismatch)
        expert_episodes, expert_info = data.load(expert_dataset or data.default_dataset_id(env_name), env,
                                                 allow_env_mismatch, flag="--expert-dataset")
        expert_episodes = data.first_episodes(expert_episodes, num_trajs, expert_info.dataset_id)
        rows = data.to_transitions(episodes + expert_episodes)
        make = lambda c: mod.make_train(c, rows, env.spec)  # noqa: E731
        run_config |= {"dataset": dataset or info.dataset_id, "expert_dataset": expert_dataset or expert_info.dataset_id,
                       "num_expert_trajs": num_trajs}
        return make, run_config, None
    if kind == "offline-model":  # offline RL in a fitted model, scored against the expert data's references
        from jaxil.models import load_dynamics, shipped_model

        model = model or shipped_model(env_name)
        if model is None:
            raise JaxilError(f"{algo} needs a fitted dynamics model and jaxil ships none for {env_name!r}: pass "
                             "--model DIR, the --out of "
                             f"jaxil train dynamics --env {env_name}.")
        model = str(Path(model).absolute())
        episodes, info = data.load(dataset or data.default_dataset_id(env_name, "medium"), env, allow_env_mismatch)
        _, expert_info = data.load(data.default_dataset_id(env_name), env)
        reference = Reference(expert_info.random_return, expert_info.expert_return)
        rows, fitted = data.to_transitions(episodes), load_dynamics(model, env=env_name)
        make = lambda c: mod.make_train(c, rows, fitted, env, reference)  # noqa: E731
        run_config |= {"dataset": dataset or info.dataset_id, "model": model}
        return make, run_config, reference
    if kind == "model-irl":  # CleanIL's model-based IRL protocol: expert episodes, sub-optimal data, a model of both
        from jaxil.models import fitted_dataset, load_dynamics, shipped_model

        model = model or shipped_model(env_name)
        if model is None:
            raise JaxilError(f"{algo} needs a dynamics model fitted to the sub-optimal data and jaxil ships none for "
                             f"{env_name!r}: fit one with jaxil train dynamics --env {env_name} --out DIR (its "
                             "--dataset the sub-optimal data) and pass --dynamics DIR.")
        model = str(Path(model).absolute())
        episodes, info = data.load(dataset or data.default_dataset_id(env_name), env, allow_env_mismatch)
        episodes = data.first_episodes(episodes, num_trajs, info.dataset_id)
        sub_id = suboptimal_dataset or data.default_dataset_id(env_name, "medium-replay")
        sub_episodes, sub_info = data.load(sub_id, env, allow_env_mismatch, flag="--suboptimal-dataset")
        fitted, fitted_to = load_dynamics(model, env=env_name), fitted_dataset(model)
        if fitted_to is not None and fitted_to not in (sub_id, sub_info.dataset_id):
            raise JaxilError(f"the dynamics model in {model} was fitted to {fitted_to}, but this run learns from "
                             f"{sub_id}; pass --suboptimal-dataset {fitted_to}, or fit a model to {sub_id} with jaxil "
                             f"train dynamics --env {env_name} --dataset {sub_id} --out DIR and pass --dynamics DIR.")
        reference = Reference(info.random_return, info.expert_return)
        expert, sub = data.expert_data(episodes), data.to_transitions(sub_episodes)
        make = lambda c: mod.make_train(c, expert, sub, fitted, env, reference)  # noqa: E731
        run_config |= {"dataset": dataset or info.dataset_id, "num_expert_trajs": num_trajs,
                       "suboptimal_dataset": suboptimal_dataset or sub_info.dataset_id, "model": model}
        return make, run_config, reference
    if kind == "interactive":  # an expert queried in the loop: the dataset's saved expert policy
        from jaxil.experts import load_expert

        dataset_id = dataset or data.default_dataset_id(env_name)
        episodes, info = data.load(dataset_id, env, allow_env_mismatch)
        if horizon is not None:
            episodes, info = data.at_horizon(episodes, info, env)
        try:
            expert_policy, card = load_expert(data.resolve(dataset_id))
        except JaxilError as err:
            raise JaxilError(f"{algo} needs an expert to query: {err}") from err
        reference = Reference(info.random_return, info.expert_return)
        expert = data.expert_data(data.first_episodes(episodes, num_trajs, info.dataset_id))
        act = lambda obs: expert_policy(obs).mode()  # noqa: E731
        make = lambda c: mod.make_train(c, act, env, reference, expert)  # noqa: E731
        run_config |= {"dataset": dataset or info.dataset_id, "num_expert_trajs": num_trajs,
                       "expert": f"the policy saved with {dataset or info.dataset_id} ({card.get('algo')}), its mode"}
        return make, run_config, reference
    if kind == "tabular":  # known dynamics: the demonstrator is soft-optimal for the true reward
        return tabular_maker(mod, env, dataset, num_trajs, run_config)
    if kind != "rl":
        episodes, info = data.load(dataset or data.default_dataset_id(env_name), env, allow_env_mismatch)
        if horizon is not None:
            episodes, info = data.at_horizon(episodes, info, env)
        if info.warning:
            print(f"jaxil: warning: {info.warning}", file=sys.stderr)
        episodes = data.first_episodes(episodes, num_trajs, info.dataset_id)
        reference = Reference(info.random_return, info.expert_return)
        expert = data.expert_data(episodes)
        run_config |= {"dataset": dataset or info.dataset_id, "num_expert_trajs": num_trajs}
        if allow_env_mismatch:
            run_config["allow_env_mismatch"] = True
        if kind == "offline+suboptimal":
            sub_id = suboptimal_dataset or data.default_dataset_id(env_name, "medium-replay")
            sub_episodes, sub_info = data.load(sub_id, env, allow_env_mismatch, flag="--suboptimal-dataset")
            sub = data.to_transitions(sub_episodes)
            make = lambda c: mod.make_train(c, expert, sub, env, reference)  # noqa: E731
            run_config["suboptimal_dataset"] = suboptimal_dataset or sub_info.dataset_id
        else:
            make = lambda c: mod.make_train(c, expert, env, reference)  # noqa: E731
        if info.made_by != "jaxil":
            print(f"jaxil: {info.evaluation}", file=sys.stderr)
            run_config["evaluation"] = info.evaluation
    else:
        reference, info = None, None
        try:  # an RL run is scored against the expert data's references when they exist
            episodes, info = data.load(dataset or data.default_dataset_id(env_name), env, allow_env_mismatch)
            if horizon is not None:
                _, info = data.at_horizon(episodes, info, env)
            reference = Reference(info.random_return, info.expert_return)
        except JaxilError:
            if dataset is not None:
                raise
        make = lambda c: mod.make_train(c, env, reference)  # noqa: E731
        run_config |= {"dataset": dataset or (info.dataset_id if info else None)}
    return make, run_config, reference


DEMO_KEY = 0  # the sampled demonstrations are the same in every run (they are the data, not the seed)


def tabular_maker(mod, env, dataset: str | None, num_trajs: int | None, run_config: dict):
    """(make, run_config, reference) of a tabular IRL run: demonstrations from the soft-optimal
    policy for the MDP's true reward, as its exact occupancy or ``num_trajs`` sampled trajectories;
    references (random, demonstrator) computed exactly."""
    import jax

    from jaxil.envs import TABULAR_ENVS
    from jaxil.envs.tabular import TabularEnv
    from jaxil.rl import tabular

    if not isinstance(env, TabularEnv):
        raise JaxilError(f"{run_config['algo']} learns on a tabular MDP; --env must be one of {', '.join(TABULAR_ENVS)}, "
                         f"got {env.spec.name!r}.")
    if dataset is not None:
        raise JaxilError("a tabular env's demonstrations come from its soft-optimal demonstrator; drop --dataset "
                         "(--num-expert-trajs N samples N trajectories, none gives the exact occupancy).")
    if num_trajs is not None and num_trajs <= 0:
        raise JaxilError(f"--num-expert-trajs must be positive, got {num_trajs}.")
    mdp = env.mdp
    _, _, demonstrator = tabular.soft_value_iteration(mdp)
    states = None if num_trajs is None else tabular.sample_trajectories(
        mdp, demonstrator, jax.random.PRNGKey(DEMO_KEY), num_trajs)[0]

    def demo(gamma):
        if states is None:
            return tabular.state_occupancy(mdp, demonstrator, gamma)[1]
        return mod.occupancy_from_trajectories(states, mdp.num_states, gamma)

    reference = mod.exact_reference(mdp, demonstrator)
    make = lambda c: mod.make_train(c, mdp, demo(c.gamma), reference, env.spec.name)  # noqa: E731
    run_config |= {"demonstrations": "exact occupancy" if num_trajs is None else f"{num_trajs} sampled trajectories",
                   "num_expert_trajs": num_trajs}
    return make, run_config, reference


def summarize(run_config: dict, seeds: list[int], rows: list[dict], wall_s: float, out: Path) -> dict:
    from jaxil.stats import aggregate

    last_chunk = max(r["chunk"] for r in rows)
    last = {r["seed"]: r for r in rows if r["chunk"] == last_chunk}
    summary = {
        "algo": run_config["algo"],
        "env": run_config["env"],
        "backend": run_config["backend"],
        "dataset": run_config.get("dataset"),
        "num_expert_trajs": run_config.get("num_expert_trajs"),
        "seeds": seeds,
        # the budget's own unit: updates for offline algorithms, env steps for online ones
        "steps": int(last[seeds[0]].get("env_steps", last[seeds[0]].get("updates", last[seeds[0]]["step"]))),
        "wall_s": round(wall_s, 2),
        "out": str(out),
    }
    summary |= {k: run_config[k] for k in ("suboptimal_dataset", "model", "expert") if k in run_config}
    if "expert_labels" in last[seeds[0]]:  # DAgger: the expert's labels each seed used
        summary["expert_labels"] = int(last[seeds[0]]["expert_labels"])
    algo = ALGOS.get(run_config["algo"])  # None for reward-transfer runs
    if algo is not None and algo.kind == "model":  # a model has no return; its hold-out error ranks it
        summary["expert_dataset"] = run_config.get("expert_dataset")
        summary["holdout_mse"] = aggregate([last[s]["holdout_mse"] for s in seeds])
        summary["epochs"] = [int(last[s]["epochs"]) for s in seeds]
        return summary
    returns = [last[s]["eval_return"] for s in seeds]
    summary["return"] = {"mean": float(np.mean(returns)), "per_seed": returns}
    if "normalized_score" in last[seeds[0]]:
        summary["normalized_score"] = aggregate([last[s]["normalized_score"] for s in seeds])
    return summary


def cmd_sweep(argv: list[str]) -> dict | None:
    """A grid of hyperparameters × seeds in one program (per static group): jaxil.sweep."""
    from jaxil import sweep

    if not argv or argv[0] in ("-h", "--help") or argv[0].startswith("-"):
        print(f"usage: jaxil sweep ALGO --env ENV --grid NAME=V1,V2 [--grid ...] [train flags]; ALGO is one of: "
              f"{', '.join(ALGOS)}.")
        return None
    algo, rest = argv[0], argv[1:]
    family, overrides = run_preset(algo, rest)

    @dataclasses.dataclass
    class SweepArgs(train_args_class(algo, rest)):
        grid: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
        """NAME=V1,V2,...: one field of the Config and its values (repeat for more fields)."""

    args = tyro.cli(SweepArgs, args=rest, prog=f"jaxil sweep {algo}")
    if any(v is not None for v in (args.coordinator_address, args.num_processes, args.process_id)):
        raise JaxilError("jaxil sweep runs in one process (its runs spread over local devices with --devices); "
                         "for several hosts, launch jaxil train per grid point.")
    if args.seeds <= 0:
        raise JaxilError(f"--seeds must be positive, got {args.seeds}.")
    grid = sweep.parse_grid(args.grid, algo_module(algo).Config)
    grid_text = "-".join(grid)
    out = Path(args.out or f"runs/sweep-{algo}-{args.env}-{grid_text}")
    if overrides:
        print(f"jaxil: {algo} on {args.env} starts from the {family} preset: {preset_text(overrides)}", file=sys.stderr)
    return sweep.run(
        algo, args.env, grid, list(range(args.seed, args.seed + args.seeds)), out, base=args.config,
        dataset=args.dataset, num_expert_trajs=args.num_expert_trajs, backend=args.backend, progress=args.progress,
        vectorize=args.vectorize, devices=args.devices, resume=args.resume,
        build_kwargs=dict(suboptimal_dataset=getattr(args, "suboptimal_dataset", None),
                          allow_env_mismatch=args.allow_env_mismatch,
                          expert_dataset=getattr(args, "expert_dataset", None), model=getattr(args, "model", None)),
    )


def join_job(argv: list[str]):
    """The multi-process job a ``jaxil train`` command line joins (jaxil.hosts), joined,
    or None. Read from the raw flags: JAX must join before its backend starts."""
    from jaxil import hosts

    def number(name: str) -> int | None:
        value = flag_value(argv, name)
        try:
            return None if value is None else int(value)
        except ValueError:
            raise JaxilError(f"{name} takes a whole number, got {value!r}.") from None

    job = hosts.settings(flag_value(argv, "--coordinator-address"), number("--num-processes"),
                         number("--process-id"), number("--init-timeout") or 300)
    if job is not None:
        hosts.share(list(range(number("--seeds") or 1)), job)  # refused before waiting for the others
        hosts.initialize(job)
    return job


def cmd_train(argv: list[str]) -> dict | None:
    from jaxil import driver

    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: jaxil train ALGO --env ENV [flags]; ALGO is one of: {', '.join(ALGOS)}.\n"
              "`jaxil train ALGO -h` lists an algorithm's flags.")
        return None
    if not argv or argv[0].startswith("-"):
        raise JaxilError(f"usage: jaxil train ALGO --env ENV ...; ALGO is one of: {', '.join(ALGOS)}.")
    algo, rest = argv[0], argv[1:]
    job = join_job(rest)  # before anything starts JAX's backend (importing an algorithm does)
    family, overrides = run_preset(algo, rest)
    args = tyro.cli(train_args_class(algo, rest), args=rest, prog=f"jaxil train {algo}")
    if overrides:
        print(f"jaxil: {algo} on {args.env} starts from the {family} preset: {preset_text(overrides)} "
              "(any flag overrides it; see jaxil.presets)", file=sys.stderr)
    if args.seeds <= 0:
        raise JaxilError(f"--seeds must be positive, got {args.seeds}.")
    from jaxil.tensorboard import check_backend

    check_backend(args.log)
    if not 0 <= args.seed <= MAX_SEED - args.seeds + 1:
        raise JaxilError(
            f"seeds must lie in 0..{MAX_SEED} (JAX keys hold 32-bit seeds; larger ones would wrap to other seeds), "
            f"got --seed {args.seed} with --seeds {args.seeds}."
        )
    seeds = list(range(args.seed, args.seed + args.seeds))
    out = Path(args.out or f"runs/{algo}-{args.env}-s{args.seed}x{args.seeds}")
    from jaxil import hosts as multihost

    all_seeds, run_dir = seeds, out
    if job is not None:  # this process runs its share of the seeds in its own directory
        seeds = multihost.share(seeds, job)
        run_dir = out / f"process-{job.process_id}"
    t0 = time.perf_counter()
    train, run_config, _ = build(
        algo, args.env, args.backend, args.config, args.dataset, args.num_expert_trajs,
        getattr(args, "suboptimal_dataset", None), args.allow_env_mismatch, getattr(args, "expert_dataset", None),
        getattr(args, "model", None), args.max_episode_steps,
    )
    if overrides:
        run_config["preset"] = {"family": family, "fields": overrides}
    carry, rows = driver.run(
        train, seeds, run_dir, run_config=run_config, checkpoint_every=args.checkpoint_every,
        resume=args.resume, progress=args.progress, vectorize=args.vectorize, devices=args.devices,
        stop_when=all_stopped(seeds) if ALGOS[algo].kind == "model" else None, log=args.log,
    )
    if job is not None:
        rows = multihost.gather_final_rows(rows, seeds, all_seeds)
        if job.process_id != 0:
            return {"process": job.process_id, "seeds": seeds, "out": str(run_dir)}
        run_config["processes"] = job.num_processes
    summary = summarize(run_config, all_seeds, rows, time.perf_counter() - t0, out)
    (out / "summary.json").write_text(json_text(summary, indent=2))
    if args.log == "tensorboard":
        from jaxil import tensorboard

        hparams = {"algo": algo, "env": args.env, **run_config.get("config", {})}
        tensorboard.write_summary(run_dir, hparams, json.loads(json_text(summary)), [r for r in rows if r["seed"] in seeds])
    return summary


def all_stopped(seeds: list[int]):
    """``stop_when`` for early-stopped learners: every seed's latest row says stopped."""

    def stop(rows: list[dict]) -> bool:
        latest = {}
        for r in rows:
            if r["chunk"] >= latest.get(r["seed"], {"chunk": -1})["chunk"]:
                latest[r["seed"]] = r
        return all(s in latest and latest[s].get("stopped") == 1 for s in seeds)

    return stop


@dataclasses.dataclass
class EvalArgs:
    run_dir: tyro.conf.Positional[str]
    """a run directory written by jaxil train."""
    episodes: int = 100
    """evaluation episodes per seed."""
    seed: int = 12345
    """evaluation seed."""


def read_run_config(out: Path) -> dict:
    """The config.json of a run directory written by jaxil train, checked for its keys."""
    from jaxil import driver

    if not (out / driver.CONFIG_NAME).is_file():
        if (out / "process-0" / driver.CONFIG_NAME).is_file():
            raise JaxilError(f"{out} holds a multi-process run: each process's seeds are a run of their own, "
                             f"{out}/process-I; pass one of those.")
        if (out / "sweep.json").is_file():
            raise JaxilError(f"{out} holds a sweep (jaxil sweep), whose results are {out}/table.csv; commands that "
                             "take a run directory take a jaxil train run.")
        raise JaxilError(f"{out} is not a jaxil run directory (no {driver.CONFIG_NAME}); pass the --out of a jaxil train run.")
    if "sweep" in json.loads((out / driver.CONFIG_NAME).read_text() or "{}"):
        raise JaxilError(f"{out} holds the runs of a sweep (jaxil sweep), whose results are in the directory above "
                         "(table.csv); commands that take a run directory take a jaxil train run.")
    try:
        rc = json.loads((out / driver.CONFIG_NAME).read_text())
        for key in ("algo", "env", "backend", "config", "seeds"):
            rc[key]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise JaxilError(f"{out / driver.CONFIG_NAME} is corrupt or incomplete ({err}); it cannot be evaluated.") from err
    if rc["algo"] not in ALGOS:
        raise JaxilError(f"{out / driver.CONFIG_NAME} names an unknown algorithm {rc['algo']!r}; known: {', '.join(ALGOS)}.")
    return rc


def load_run(out: Path, eval_episodes: int | None = None):
    """(run config, train, reference, latest carry) of a run directory written by jaxil train."""
    from jaxil import driver

    rc = read_run_config(out)
    algo, env_name, backend, cfg, seeds = rc["algo"], rc["env"], rc["backend"], rc["config"], rc["seeds"]
    config = config_from_json(algo_module(algo).Config, cfg)
    if eval_episodes is not None and hasattr(config, "eval_episodes"):  # a dynamics model has no episodes
        config = config.replace(eval_episodes=eval_episodes)
    backend = None if backend == "gymnax" else backend
    train, _, reference = build(
        algo, env_name, backend, config, rc.get("dataset"), rc.get("num_expert_trajs"), rc.get("suboptimal_dataset"),
        rc.get("allow_env_mismatch", False), rc.get("expert_dataset"), rc.get("model"), rc.get("max_episode_steps"),
    )
    carry = driver.restore_latest(out, driver.abstract_carry(train, seeds))
    if carry is None:
        raise JaxilError(f"{out} has no checkpoint to evaluate; run jaxil train first.")
    return rc, train, reference, carry


def cmd_eval(argv: list[str]) -> dict:
    import jax

    from jaxil.stats import aggregate

    args = tyro.cli(EvalArgs, args=argv, prog="jaxil eval")
    if args.episodes <= 0:
        raise JaxilError(f"--episodes must be positive, got {args.episodes}.")
    rc, train, reference, carry = load_run(Path(args.run_dir), args.episodes)
    algo, env_name, seeds = rc["algo"], rc["env"], rc["seeds"]
    evaluate = jax.jit(train.evaluate)
    metrics = [
        jax.device_get(evaluate(jax.tree.map(lambda x: x[i], carry.state), jax.random.PRNGKey(args.seed + s)))
        for i, s in enumerate(seeds)
    ]
    if ALGOS[algo].kind == "model":  # a model is scored on its hold-out rows, not in the env
        return {"algo": algo, "env": env_name, "dataset": rc.get("dataset"), "seeds": seeds,
                "chunks": int(np.asarray(carry.chunk)[0]),
                "holdout_mse": aggregate([float(m["holdout_mse"]) for m in metrics]),
                "epochs": [int(m["epochs"]) for m in metrics]}
    returns = [float(m["eval_return"]) for m in metrics]
    if not all(math.isfinite(r) for r in returns):
        bad = [s for s, r in zip(seeds, returns) if not math.isfinite(r)]
        raise JaxilError(
            f"the checkpoint in {args.run_dir} gives non-finite returns for seed(s) {bad}: its parameters diverged "
            "(a run from before jaxil's divergence guard). Delete that step directory under checkpoints/ to fall "
            "back to an older one, or train again."
        )
    summary = {
        "algo": algo, "env": env_name, "dataset": rc.get("dataset"), "seeds": seeds,
        "eval_episodes": args.episodes, "chunks": int(np.asarray(carry.chunk)[0]),
        "return": {"mean": float(np.mean(returns)), "per_seed": returns},
    }
    if reference is not None:
        summary["normalized_score"] = aggregate([float(m["normalized_score"]) for m in metrics])
    return summary


@dataclasses.dataclass
class TransferArgs:
    run_dir: tyro.conf.Positional[str]
    """a run directory of an algorithm with a learned reward (jaxil train ALGO -h says which), written by jaxil train."""
    steps: int | None = None
    """env steps of the fresh agent (default: the env's expert recipe)."""
    out: str | None = None
    """run directory of the transfer (default: RUN_DIR/reward-transfer)."""
    progress: bool = True
    """show a progress bar."""


def cmd_reward_transfer(argv: list[str]) -> dict:
    """Train a fresh agent per seed on that seed's learned reward; score it on the true one.
    The agent is the env's expert recipe (SAC or PPO, its shaping off: the learned reward
    alone); on a tabular MDP value iteration solves the transfer exactly."""
    import jax

    from jaxil import driver, envs
    from jaxil.experts import RECIPES, recipe_config, solver

    args = tyro.cli(TransferArgs, args=argv, prog="jaxil reward-transfer")
    out = Path(args.run_dir)
    algo = read_run_config(out)["algo"]  # refused before anything is built or restored
    if ALGOS[algo].reward is None:
        learners = [a for a, info in ALGOS.items() if info.reward is not None]
        raise JaxilError(f"{algo} learns no reward; reward-transfer takes runs of: {', '.join(learners)}.")
    if ALGOS[algo].reward == "discriminator":
        print(f"jaxil: {algo}'s reward is a discriminator's score of its own final policy; a fresh agent trained on "
              "it measures how much of the task that score holds, not a reward it was meant to recover.",
              file=sys.stderr)
    rc, source_train, reference, carry = load_run(out)
    mod = algo_module(rc["algo"])
    env_name = rc["env"]
    env = envs.make(env_name, None if rc["backend"] == "gymnax" else rc["backend"], rc.get("max_episode_steps"))
    if env_name in envs.TABULAR_ENVS:  # known dynamics: the transfer is solved exactly
        return tabular_transfer(rc, mod, source_train, carry, env, reference, out)
    if env_name not in RECIPES:
        raise JaxilError(f"reward-transfer trains the env's expert recipe; env {env_name!r} has none (envs with one: "
                         f"{', '.join(RECIPES)}).")
    overrides = {} if args.steps is None else {"steps": args.steps}
    if "shaping" in RECIPES[env_name].config:  # the true task's potential would leak into the transfer
        overrides["shaping"] = 0.0
    recipe, solver_config = recipe_config(env_name, overrides)
    transfer_out = Path(args.out or out / "reward-transfer")
    seeds, rows, t0 = rc["seeds"], [], time.perf_counter()
    for i, seed in enumerate(seeds):
        # one run per seed: each seed's agent learns from that seed's reward
        learner = source_train.learner(jax.tree.map(lambda x: x[i], carry.state))
        train = solver(recipe.algo).make_train(solver_config, env, reference, reward_fn=mod.learned_reward(learner))
        run_config = {"algo": "reward-transfer", "source_run": str(out.absolute()), "source_algo": rc["algo"],
                      "env": env_name, "backend": env.spec.backend, "solver": recipe.algo,
                      "config": config_to_json(solver_config),
                      "dataset": rc.get("dataset")}
        _, seed_rows = driver.run(train, [seed], transfer_out / f"seed{seed}", run_config=run_config,
                                  progress=args.progress)
        rows += seed_rows
    summary = summarize(run_config | {"algo": "reward-transfer"}, seeds, rows, time.perf_counter() - t0, transfer_out)
    summary["source_run"] = str(out)
    (transfer_out / "summary.json").write_text(json_text(summary, indent=2))
    return summary


def tabular_transfer(rc: dict, mod, source_train, carry, env, reference, out: Path) -> dict:
    """Reward transfer on a tabular MDP, exactly: per seed, an optimal policy for the learned
    reward (value iteration) and its expected return under the true reward."""
    import jax

    from jaxil.evaluation import normalized_score
    from jaxil.rl import tabular
    from jaxil.stats import aggregate

    mdp, returns = env.mdp, []
    for i in range(len(rc["seeds"])):
        learner = source_train.learner(jax.tree.map(lambda x: x[i], carry.state))
        r = mod.learned_reward(learner)(mdp.observation, None, None, None)
        _, _, greedy = tabular.value_iteration(mdp, r.astype(mdp.transition.dtype))
        returns.append(float(tabular.expected_return(mdp, greedy)))
    summary = {"algo": "reward-transfer", "source_run": str(out), "source_algo": rc["algo"], "env": rc["env"],
               "solver": "value iteration (exact)", "seeds": rc["seeds"],
               "return": {"mean": float(np.mean(returns)), "per_seed": returns}}
    if reference is not None:
        summary["normalized_score"] = aggregate([float(normalized_score(x, *reference)) for x in returns])
    return summary


@dataclasses.dataclass
class RewardEvalArgs:
    run_dir: tyro.conf.Positional[str]
    """a run directory of an algorithm with a learned reward, written by jaxil train."""
    samples: int = 1000
    """continuous envs: coverage transitions drawn from the run's expert data, and as many states and
    actions for the canonicalization's expectations."""
    actions: str = "uniform"
    """the canonicalization's actions: "uniform" over the action space, or "data" (the expert data's)."""
    gamma: float | None = None
    """the canonicalization's discount (default: the run's gamma, or 0.99)."""
    seed: int = 0
    """seed of the samples."""
    plot: bool = True
    """draw the first seed's learned reward against the true one into RUN_DIR/reward.png."""


def cmd_reward_eval(argv: list[str]) -> dict:
    """EPIC distance (jaxil.reward_eval) from each seed's learned reward to the env's true one:
    exact on tabular MDPs, sampled on the expert data's transitions elsewhere. Written into the
    run's summary.json under "reward_eval"."""
    import jax

    from jaxil import data, envs, plots, reward_eval
    from jaxil.envs.rewards import true_reward
    from jaxil.stats import aggregate

    args = tyro.cli(RewardEvalArgs, args=argv, prog="jaxil reward-eval")
    out = Path(args.run_dir)
    algo = read_run_config(out)["algo"]
    if ALGOS[algo].reward is None:
        learners = [a for a, info in ALGOS.items() if info.reward is not None]
        raise JaxilError(f"{algo} learns no reward; reward-eval takes runs of: {', '.join(learners)}.")
    if args.samples < 2:
        raise JaxilError(f"--samples must be at least 2 (a correlation needs two points), got {args.samples}.")
    rc, train, _, carry = load_run(out)
    mod = algo_module(algo)
    env = envs.make(rc["env"], None if rc["backend"] in ("gymnax", "tabular") else rc["backend"],
                    rc.get("max_episode_steps"))
    gamma = float(args.gamma if args.gamma is not None else rc["config"].get("gamma", 0.99))
    learned = [mod.learned_reward(train.learner(jax.tree.map(lambda x: x[i], carry.state)))
               for i in range(len(rc["seeds"]))]
    if rc["env"] in envs.TABULAR_ENVS:
        per_seed = [float(reward_eval.epic_to_true_tabular(r, env.mdp, gamma)) for r in learned]
        how = {"method": "exact (every transition from uniform states and actions)"}
        if args.plot:  # per state, averaged over actions and successors
            mdp = env.mdp
            first = reward_eval.tabular_tensor(learned[0], mdp.observation, mdp.num_actions).mean((1, 2))
            true_s = reward_eval.reward_tensor(mdp.reward, mdp.num_states, mdp.num_actions).mean((1, 2))
            grid = reward_eval.tabular_grid(first, true_s, mdp.observation)  # gridworlds: heat maps too
            how["plot"] = str(plots.plot_rewards(out / "reward.png", np.asarray(first), np.asarray(true_s),
                                                 f"{algo} on {rc['env']}, seed {rc['seeds'][0]}: per state", grid,
                                                 ("column", "row"), top_row_first=True))
    else:
        truth = true_reward(rc["env"])
        episodes, _ = data.load(rc.get("dataset") or data.default_dataset_id(rc["env"]), env)
        rows = jax.tree.map(jax.numpy.asarray, data.to_transitions(episodes))
        batch, states, actions = reward_eval.coverage_samples(jax.random.PRNGKey(args.seed), rows, args.samples,
                                                              env.spec, args.actions)
        per_seed = [float(jax.jit(lambda b, s, a, r=r: reward_eval.epic_sampled(r, truth, b, s, a, gamma))(
            batch, states, actions)) for r in learned]
        how = {"method": "sampled", "coverage": f"{args.samples} transitions of {rc.get('dataset') or 'the env data'}",
               "states": f"{args.samples} of its states", "actions": f"{args.samples}, {args.actions}",
               "sample_seed": args.seed}
        if args.plot:
            b = batch
            values = [np.asarray(f(b.obs, b.action, b.next_obs, b.terminated)) for f in (learned[0], truth)]
            grid = reward_eval.pendulum_grid(learned[0]) if rc["env"] == "pendulum" else None
            how["plot"] = str(plots.plot_rewards(out / "reward.png", *values,
                                                 f"{algo} on {rc['env']}, seed {rc['seeds'][0]}: coverage", grid))
    result = {"epic": aggregate(per_seed), "gamma": gamma, **how}
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    summary_file.write_text(json_text(summary | {"reward_eval": result}, indent=2))
    return {"algo": algo, "env": rc["env"], "seeds": rc["seeds"], "reward_eval": result}


@dataclasses.dataclass
class DataListArgs:
    json: bool = False
    """print JSON instead of a table."""


@dataclasses.dataclass
class DataMakeArgs:
    env: str
    """environment to make data for."""
    kind: str = "expert"
    """expert, medium, medium-replay or random (all but expert need the expert dataset first)."""
    seed: int = 0
    """seed of the expert's training and of the data collection."""
    episodes: int | None = None
    """episodes to record (default 50); for medium-replay, a uniform subsample of the buffer's episodes (default all)."""
    work_dir: str | None = None
    """the expert's resumable training run (default ~/.cache/jaxil/work/jaxil/ENV/expert-v0/seedS)."""
    root: str | None = None
    """datasets root (default: $MINARI_DATASETS_PATH or ~/.minari/datasets)."""
    overwrite: bool = False
    """replace an existing dataset."""
    progress: bool = True
    """show a progress bar while training the expert."""
    resume: bool = True
    """resume the expert's training run from its work dir (--no-resume trains it again)."""


@dataclasses.dataclass
class ImportD4rlArgs:
    file: tyro.conf.Positional[str]
    """a D4RL-format HDF5 file (observations, actions, rewards, terminals, timeouts[, next_observations])."""
    env: str
    """the jaxil env the data was recorded on (e.g. gym-hopper-v4 for D4RL's hopper-*-v2); policies trained on it
    are evaluated there, and loading it with another env is refused."""
    dataset_id: str | None = None
    """the Minari id to write (default: d4rl/<file name>, with -v0 unless the name has a version)."""
    ref_min: float | None = None
    """random reference return (default: D4RL's for the task)."""
    ref_max: float | None = None
    """expert reference return (default: D4RL's for the task)."""
    root: str | None = None
    """datasets root (default: $MINARI_DATASETS_PATH or ~/.minari/datasets)."""
    overwrite: bool = False
    """replace an existing dataset."""


def cmd_import_d4rl(rest: list[str]) -> dict:
    """A D4RL-format HDF5 file as a Minari dataset jaxil trains on (jaxil.data.d4rl)."""
    import re

    from jaxil import envs
    from jaxil.data import d4rl
    from jaxil.data.datasets import check_episodes, local_minari_root
    from jaxil.data.minari_io import write_dataset

    args = tyro.cli(ImportD4rlArgs, args=rest, prog="jaxil data import-d4rl")
    env = envs.make(args.env)
    episodes, how = d4rl.read_d4rl(args.file)
    check_episodes(episodes, env.spec, args.file)
    if (args.ref_min is None) != (args.ref_max is None):
        raise JaxilError("pass both --ref-min and --ref-max, or neither (D4RL's for the task).")
    lo, hi = (args.ref_min, args.ref_max) if args.ref_min is not None else d4rl.references(args.env)
    stem = Path(args.file).stem
    versioned = re.search(r"-v\d+$", stem) is not None
    dataset_id = args.dataset_id or ("d4rl/" + (stem if versioned else stem + "-v0"))
    path = write_dataset(
        Path(args.root) if args.root else local_minari_root(), dataset_id, episodes, env.spec, random_return=lo,
        expert_return=hi, overwrite=args.overwrite, algorithm_name="d4rl",
        jaxil_meta={"env": env.spec.name, "backend": env.spec.backend, "imported_from": how,
                    "command": "jaxil data import-d4rl " + " ".join(rest)},
        description=f"{dataset_id}: D4RL-format file {how['source']} imported by jaxil for env {env.spec.name} "
                    f"({how['episodes']} episodes, {how['terminal_episodes']} ending in a terminal state).",
    )
    return {"dataset": dataset_id, "path": str(path), **how, "ref_random": lo, "ref_expert": hi}


def cmd_data(argv: list[str]) -> dict | None:
    from jaxil import experts
    from jaxil.data.datasets import list_datasets

    sub, rest = (argv[0], argv[1:]) if argv else ("", [])
    if sub in ("-h", "--help"):
        print("usage: jaxil data list [--json] | jaxil data make --env ENV [...] | jaxil data import-d4rl FILE --env ENV "
              "[...]; `jaxil data make -h` and `jaxil data import-d4rl -h` list their flags.")
        return None
    if sub == "list":
        args = tyro.cli(DataListArgs, args=rest, prog="jaxil data list")
        rows = list_datasets()
        if args.json:
            print(json_text(rows))
            return None
        cols = ["id", "env", "backend", "episodes", "transitions", "mean_return", "ref_random", "ref_expert", "status"]
        fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else "-" if v is None else str(v)  # noqa: E731
        table = [cols] + [[fmt(r[c]) for c in cols] for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        for row in table:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        return None
    if sub == "make":
        args = tyro.cli(DataMakeArgs, args=rest, prog="jaxil data make")
        path = experts.make_dataset(
            args.env, args.kind, seed=args.seed, num_episodes=args.episodes, root=args.root,
            overwrite=args.overwrite, progress=args.progress, work_dir=args.work_dir, resume=args.resume,
        )
        from jaxil.data import load

        _, info = load(str(path))
        return {"dataset": info.dataset_id, "path": str(path), "episodes": info.num_episodes,
                "transitions": info.num_transitions, "ref_random": info.random_return, "ref_expert": info.expert_return}
    if sub == "import-d4rl":
        return cmd_import_d4rl(rest)
    raise JaxilError("usage: jaxil data list [--json] | jaxil data make --env ENV [...] | "
                     "jaxil data import-d4rl FILE --env ENV [...]")


@dataclasses.dataclass
class PlotArgs:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """run directories written by jaxil train (one algorithm on one env each)."""
    metric: str = "normalized_score"
    """a column of metrics.csv."""
    kind: str = "curves"
    """"curves": learning curves, one per run; across runs of several algorithms (rliable), from each
    seed's last evaluation: "profile" (performance profiles) or "improvement" (P(X > Y) per pair)."""
    labels: tuple[str, ...] | None = None
    """a name per run (default: its directory for curves, its algorithm otherwise); runs of one label on
    different envs are that label's tasks."""
    reps: int = 2000
    """bootstrap resamples of the rliable CIs."""
    out: str | None = None
    """image file (default: <first RUN_DIR>/<metric>.png for curves, <first RUN_DIR>/<kind>.png otherwise)."""


def cmd_plot(argv: list[str]) -> dict:
    from jaxil.plots import plot_run

    args = tyro.cli(PlotArgs, args=argv, prog="jaxil plot")
    if not args.run_dirs:
        raise JaxilError("jaxil plot takes one or more run directories.")
    if args.kind == "curves":
        return {"plot": str(plot_run(args.run_dirs, args.metric, args.out, args.labels))}
    from jaxil import compare

    if args.kind not in ("profile", "improvement"):
        raise JaxilError(f"unknown --kind {args.kind!r}; choose curves, profile or improvement.")
    scores, tasks = compare.final_scores(args.run_dirs, args.metric, args.labels)
    out = args.out or str(Path(args.run_dirs[0]) / f"{args.kind}.png")
    return compare.plot_comparison(args.kind, scores, tasks, out, args.metric, args.reps)


@dataclasses.dataclass
class ExportArgs:
    run_dir: tyro.conf.Positional[str]
    """a jaxil train dynamics run directory."""
    out: str
    """directory to write the model (model.msgpack) and its card (model.json) to."""
    seed: int | None = None
    """the seed whose model to export (default: the run's first)."""


def cmd_export_model(argv: list[str]) -> dict:
    """A fitted dynamics model on its own (weights, scaler, elites; a few MB), with a card."""
    from jaxil.models import export_dynamics

    args = tyro.cli(ExportArgs, args=argv, prog="jaxil export-model")
    return export_dynamics(args.run_dir, args.out, args.seed)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": cmd_train, "eval": cmd_eval, "reward-transfer": cmd_reward_transfer,
                "reward-eval": cmd_reward_eval, "data": cmd_data,
                "plot": cmd_plot, "export-model": cmd_export_model, "sweep": cmd_sweep}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        result = commands[argv[0]](argv[1:])
    except JaxilError as err:
        print(f"jaxil: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jaxil: interrupted. A training run resumes from its last checkpoint when the same command is "
              "run again.", file=sys.stderr)
        return 130
    if result is not None:
        print(json_text(result))
    return 0


def json_safe(x: Any) -> Any:
    """``x`` with every non-finite float replaced by None: JSON has no NaN or infinity."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def json_text(x: Any, **kwargs) -> str:
    return json.dumps(json_safe(x), allow_nan=False, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
