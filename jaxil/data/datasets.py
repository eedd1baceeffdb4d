"""Offline data: find a dataset, check it against its env, select and split it.

``load(dataset, env)`` resolves a dataset id or path (shipped datasets first, then the
local Minari store), checks every field, and returns host-side episodes plus a
:class:`DatasetInfo` with the reference returns used for normalized scores.
``expert_data(...)`` turns the first N episodes into the device pytree the offline
algorithms train on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil.data.minari_io import Episode, read_dataset
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.types import Transition

SHIPPED_ROOT = Path(__file__).parent / "shipped"
# CleanIL's offline protocol: the first 20 expert episodes for the BC family.
DEFAULT_EXPERT_TRAJS = 20
# Obs dims whose std is below this are constant in the data; do not blow them up.
MIN_STD = 1e-3
# The random-policy reference has its own fixed seed, unrelated to any training seed.
RANDOM_REFERENCE_SEED = 0x72616E64
# Continuous actions may exceed the bounds by this fraction of the range (float noise).
ACTION_BOUND_TOL = 1e-5


def local_minari_root() -> Path:
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))


def default_dataset_id(env: str, kind: str = "expert") -> str:
    return f"jaxil/{env}/{kind}-v0"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    dataset_id: str
    path: str
    env: str
    backend: str
    made_by: str  # "jaxil", or "external" for Minari datasets jaxil did not write
    random_return: float  # reference returns of the normalized score
    expert_return: float
    num_episodes: int
    num_transitions: int
    mean_return: float
    jaxil: dict = dataclasses.field(default_factory=dict)  # jaxil's own metadata (card)
    evaluation: str = ""  # which env scores policies trained on this data, and how
    warning: str | None = None  # what could not be checked, or a mismatch allowed on request


    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _is_dataset_dir(p: Path) -> bool:
    return (p / "data" / "metadata.json").is_file() or (p / "metadata.json").is_file()


def resolve(dataset: str) -> Path:
    """Directory of dataset ``dataset`` (an id like ``jaxil/pendulum/expert-v0`` or a path)."""
    p = Path(dataset).expanduser()
    if p.exists():
        if not _is_dataset_dir(p):
            raise JaxilError(
                f"{p} exists but is not a Minari dataset directory (expected data/metadata.json "
                "inside); pass the dataset's directory or an id from `jaxil data list`."
            )
        return p
    for root in (SHIPPED_ROOT, local_minari_root()):
        if _is_dataset_dir(root / dataset):
            return root / dataset
    shipped = sorted(str(d.parent.relative_to(SHIPPED_ROOT)) for d in SHIPPED_ROOT.glob("*/*/*/data"))
    raise JaxilError(
        f"unknown dataset {dataset!r}: not a path, not shipped with jaxil, and not in the local "
        f"Minari store ({local_minari_root()}; set MINARI_DATASETS_PATH to change it). Shipped: "
        f"{', '.join(shipped) or 'none'}. jaxil never downloads; make one with `jaxil data make`."
    )


def recorded_backend(dataset: str) -> str | None:
    """The physics backend a jaxil dataset was recorded with, from its card alone (None
    for unknown, external or classic-control data; ``load`` reports those properly)."""
    try:
        path = resolve(dataset)
        card = json.loads((path / "data" / "metadata.json").read_text()).get("jaxil") or {}
    except (JaxilError, OSError, ValueError):
        return None
    backend = card.get("backend") if isinstance(card, dict) else None
    return backend if backend not in (None, "gymnax") else None


def check_episodes(episodes: list[Episode], spec: EnvSpec, name: str) -> None:
    """Raise a clear error if the episodes do not fit ``spec`` or hold NaN/inf."""
    if not episodes or sum(len(e) for e in episodes) == 0:
        raise JaxilError(f"dataset {name} is empty (no transitions); pass a dataset with episodes.")
    for i, ep in enumerate(episodes):
        t = len(ep)
        if ep.observations.ndim != 2 or ep.observations.shape != (t + 1, spec.obs_dim):
            raise JaxilError(
                f"dataset {name}, episode {i}: observations have shape {ep.observations.shape}, "
                f"expected ({t + 1}, {spec.obs_dim}) for env {spec.name!r} (obs dim {spec.obs_dim}). "
                "Pass the --env this dataset was recorded on, or a dataset for this env."
            )
        if spec.discrete:
            if ep.actions.shape != (t,) or not np.issubdtype(ep.actions.dtype, np.integer):
                raise JaxilError(
                    f"dataset {name}, episode {i}: actions have shape {ep.actions.shape} and dtype "
                    f"{ep.actions.dtype}, but env {spec.name!r} has {spec.num_actions} discrete "
                    "actions (expected integer actions of shape (T,)). Check --env."
                )
            if t and (ep.actions.min() < 0 or ep.actions.max() >= spec.num_actions):
                raise JaxilError(
                    f"dataset {name}, episode {i}: actions outside 0..{spec.num_actions - 1} "
                    f"for env {spec.name!r}. Check --env."
                )
        elif ep.actions.shape != (t, spec.action_dim):
            raise JaxilError(
                f"dataset {name}, episode {i}: actions have shape {ep.actions.shape}, expected "
                f"({t}, {spec.action_dim}) for env {spec.name!r} (action dim {spec.action_dim}). Check --env."
            )
        elif t and np.all(np.isfinite(ep.actions)):
            low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
            tol = ACTION_BOUND_TOL * (high - low)
            if np.any(ep.actions < low - tol) or np.any(ep.actions > high + tol):
                raise JaxilError(
                    f"dataset {name}, episode {i}: actions outside the env's bounds [{low.tolist()}, "
                    f"{high.tolist()}] (min {ep.actions.min():.3g}, max {ep.actions.max():.3g}). "
                    f"Check --env, or rescale the dataset's actions to the env's action space."
                )
        for field in ("observations", "actions", "rewards"):
            arr = getattr(ep, field)
            if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
                bad = int(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0, 0])
                raise JaxilError(
                    f"dataset {name}, episode {i}: {field} contain NaN or inf (first at step {bad}). "
                    "Clean or re-create the dataset; jaxil does not train on non-finite data."
                )
        if ep.rewards.shape != (t,) or ep.terminations.shape != (t,) or ep.truncations.shape != (t,):
            raise JaxilError(
                f"dataset {name}, episode {i}: rewards/terminations/truncations must each have "
                f"shape ({t},); got {ep.rewards.shape}, {ep.terminations.shape}, {ep.truncations.shape}."
            )


def measure_random_return(env: Env, num_episodes: int = 100, seed: int = RANDOM_REFERENCE_SEED) -> float:
    from jaxil.evaluation import episode_returns, random_policy

    rets, _ = jax.jit(lambda k: episode_returns(env, random_policy(env), k, num_episodes))(
        jax.random.PRNGKey(seed)
    )
    return float(jnp.mean(rets))


def recorded_env(meta: dict) -> tuple[str, int | None] | None:
    """``(env id, step limit)`` that a Minari dataset's metadata records (``env_spec``),
    or None when it records none."""
    spec = meta.get("env_spec")
    if spec is None:
        return None
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return None
    if not isinstance(spec, dict):  # a gymnasium EnvSpec object
        spec = {"id": getattr(spec, "id", None), "max_episode_steps": getattr(spec, "max_episode_steps", None)}
    return (spec["id"], spec.get("max_episode_steps")) if spec.get("id") else None


def env_base_name(env_id: str) -> str:
    """``"CartPole-v0"``, ``"gymnax:CartPole-v1"`` and ``"cartpole"`` all give ``"cartpole"``."""
    name = env_id.split(":")[-1].split("/")[-1]
    return name.rsplit("-v", 1)[0].replace("-", "").replace("_", "").lower()


def env_version(env_id: str) -> str | None:
    """``"Hopper-v5"`` and ``"gymnasium:Hopper-v5"`` give ``"5"``; None without a version."""
    name = env_id.split(":")[-1].split("/")[-1]
    return name.rsplit("-v", 1)[1] if "-v" in name else None


def check_env_match(dataset_id: str, meta: dict, env: Env, allow_mismatch: bool) -> str | None:
    """Compare the env an external dataset was recorded on with the one jaxil evaluates
    on. A clear mismatch (another task, another step limit) is refused unless
    ``allow_mismatch``; returns a warning for what is allowed or cannot be checked."""
    recorded = recorded_env(meta)
    if recorded is None:
        return (f"dataset {dataset_id} records no env_spec, so jaxil cannot check that it was recorded on an env "
                f"like {env.spec.name!r} ({env.spec.source}, {env.spec.max_episode_steps}-step episodes)")
    env_id, limit = recorded
    problems = []
    if env_base_name(env_id) != env_base_name(env.spec.source):
        problems.append(f"another task ({env_id!r}, evaluated on {env.spec.source!r})")
    elif env.spec.source.startswith("gymnasium:") and env_version(env_id) != env_version(env.spec.source):
        # gymnasium's versions differ in rewards, models or observations (Hopper-v4 pays the
        # healthy reward on the terminating step, Walker2d-v5 changed a foot's friction)
        problems.append(f"another version of the task ({env_id!r}, evaluated on {env.spec.source!r}; jaxil's "
                        f"gym-*-v4 and -v5 envs are each version as gymnasium defines it)")
    if limit is not None and int(limit) != env.spec.max_episode_steps:
        problems.append(f"a {limit}-step episode limit, while jaxil's {env.spec.name!r} runs "
                        f"{env.spec.max_episode_steps}-step episodes")
    if not problems:
        return None
    what = (f"dataset {dataset_id} was recorded on {env_id!r} with " + " and ".join(problems)
            + ": normalized scores would compare different tasks")
    if not allow_mismatch:
        raise JaxilError(f"{what}. Pass the --env of a matching jaxil env, or --allow-env-mismatch to use it anyway.")
    return what + " (allowed by --allow-env-mismatch)"


def load(
    dataset: str, env: Env | None = None, allow_env_mismatch: bool = False, flag: str = "--dataset"
) -> tuple[list[Episode], DatasetInfo]:
    """Episodes and info of ``dataset``, checked against ``env``.

    For a jaxil dataset, ``env`` may be omitted (the dataset names its env) but must
    match if given. For an external Minari dataset, ``env`` is required: it says which
    jaxil env evaluates the data (the env the dataset records must be that task with the
    same step limit, unless ``allow_env_mismatch``), and its random-policy return is
    measured here. ``DatasetInfo.warning`` says what could not be checked. ``flag`` is the
    command-line flag that named the dataset (for the fix an error suggests).
    """
    from jaxil import envs

    path = resolve(dataset)
    episodes, meta = read_dataset(path)
    jmeta = meta.get("jaxil") or {}
    dataset_id = str(meta.get("dataset_id", dataset))
    returns = np.array([ep.ret for ep in episodes]) if episodes else np.zeros(0)
    if jmeta:
        missing = [k for k in ("env", "backend") if k not in jmeta] + [
            k for k in ("ref_min_score", "ref_max_score") if meta.get(k) is None
        ]
        if missing:
            raise JaxilError(
                f"dataset {dataset_id} has jaxil metadata without {', '.join(missing)} (an incomplete or "
                "hand-edited card); re-create it with `jaxil data make`."
            )
        data_env, data_backend = jmeta["env"], jmeta["backend"]
        if env is None:
            env = envs.make(data_env, None if data_backend == "gymnax" else data_backend)
        elif env.spec.name != data_env:
            raise JaxilError(
                f"dataset {dataset_id} was recorded on env {data_env!r}, not {env.spec.name!r}; "
                + (f"pass --env {data_env} or a dataset for {env.spec.name!r}." if flag == "--dataset"
                   else f"pass a {flag} recorded on {env.spec.name!r}.")
            )
        elif env.spec.backend != data_backend:
            raise JaxilError(
                f"dataset {dataset_id} was recorded with physics backend {data_backend!r}, but the env "
                f"uses {env.spec.backend!r}; pass --backend {data_backend} (backends simulate differently)."
            )
        random_ret, expert_ret = float(meta["ref_min_score"]), float(meta["ref_max_score"])
        made_by, backend, warning = "jaxil", data_backend, None
    else:
        if env is None:
            raise JaxilError(
                f"dataset {dataset_id} was not written by jaxil, so jaxil cannot tell which env "
                "evaluates it; pass --env (e.g. --env hopper for mujoco/hopper/expert-v0)."
            )
        check_episodes(episodes, env.spec, dataset_id)  # before spending time on the env
        warning = check_env_match(dataset_id, meta, env, allow_env_mismatch)
        if meta.get("ref_min_score") is not None and meta.get("ref_max_score") is not None:
            # the dataset's own references (Minari's mujoco/* ports carry D4RL's), so scores match papers'
            random_ret, expert_ret = float(meta["ref_min_score"]), float(meta["ref_max_score"])
            references = f"the dataset's reference scores ({random_ret:.1f} and {expert_ret:.1f})"
        else:
            random_ret, expert_ret = measure_random_return(env), float(np.mean(returns))
            references = (f"the dataset's mean return ({expert_ret:.1f}) and a random policy measured on that env "
                          f"({random_ret:.1f})")
        made_by, backend = "external", env.spec.backend
    if made_by == "jaxil":
        check_episodes(episodes, env.spec, dataset_id)
    if not expert_ret > random_ret:
        raise JaxilError(
            f"dataset {dataset_id}: expert reference return {expert_ret:.2f} is not above the random "
            f"reference {random_ret:.2f}, so normalized scores are undefined; use expert data."
        )
    info = DatasetInfo(
        dataset_id=dataset_id,
        path=str(path),
        env=env.spec.name,
        backend=backend,
        made_by=made_by,
        random_return=random_ret,
        expert_return=expert_ret,
        num_episodes=len(episodes),
        num_transitions=int(sum(len(e) for e in episodes)),
        mean_return=float(np.mean(returns)),
        jaxil=dict(jmeta),
        evaluation=(
            f"recorded and evaluated on jaxil env {env.spec.name!r} ({env.spec.source}, backend {backend})"
            if made_by == "jaxil"
            else f"external dataset {dataset_id}: policies trained on it are evaluated on jaxil env "
            f"{env.spec.name!r} ({env.spec.source}, backend {backend}), whose dynamics may differ from the "
            f"simulator that recorded it; scores are normalized by {references}"
        ),
        warning=warning,
    )
    return episodes, info


def first_episodes(episodes: list[Episode], n: int | None, name: str) -> list[Episode]:
    """The first ``n`` episodes in dataset order (all if ``n`` is None)."""
    if n is None:
        return list(episodes)
    if n <= 0:
        raise JaxilError(f"--num-expert-trajs must be positive, got {n}.")
    if n > len(episodes):
        raise JaxilError(
            f"dataset {name} has {len(episodes)} episodes, fewer than the {n} requested; "
            f"pass --num-expert-trajs {len(episodes)} or less, or make a larger dataset."
        )
    return list(episodes[:n])


def to_transitions(episodes: list[Episode]) -> Transition:
    """Concatenate episodes into host (numpy) transitions with real next observations."""
    cat = lambda xs: np.concatenate(xs, axis=0)  # noqa: E731
    t = Transition(
        obs=cat([e.observations[:-1] for e in episodes]).astype(np.float32),
        action=cat([e.actions for e in episodes]),
        reward=cat([e.rewards for e in episodes]).astype(np.float32),
        next_obs=cat([e.observations[1:] for e in episodes]).astype(np.float32),
        terminated=cat([e.terminations for e in episodes]).astype(bool),
        truncated=cat([e.truncations for e in episodes]).astype(bool),
    )
    action = t.action.astype(np.int32) if np.issubdtype(t.action.dtype, np.integer) else t.action.astype(np.float32)
    return t.replace(action=action)


@struct.dataclass
class ExpertData:
    """Expert transitions on device: a training split, a held-out split, obs stats, and
    where each training row stood in the episodes (:func:`in_order` puts them back)."""

    train: Transition
    heldout: Transition
    obs_mean: jax.Array
    obs_std: jax.Array
    train_index: jax.Array | None = None  # (N,) each training row's index among all rows, in episode order
    heldout_index: jax.Array | None = None  # the same for the held-out rows


def obs_stats(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = obs.mean(axis=0)
    std = np.maximum(obs.std(axis=0), MIN_STD)
    return mean.astype(np.float32), std.astype(np.float32)


def expert_data(
    episodes: list[Episode],
    heldout_fraction: float = 0.1,
    max_heldout: int = 1000,
    split_seed: int = 0,
) -> ExpertData:
    """Shuffle transitions once (fixed seed, the same for every training seed) and hold out
    ``min(round(fraction·N), max_heldout)`` of them for log-likelihood/MAE metrics.
    Observation statistics come from the training split only."""
    t = to_transitions(episodes)
    n = t.size
    if n < 2:
        raise JaxilError(f"only {n} expert transition(s); need at least 2 to split off held-out data.")
    n_held = max(1, min(int(round(heldout_fraction * n)), max_heldout))
    perm = np.random.default_rng(split_seed).permutation(n)
    train = jax.tree.map(lambda x: jnp.asarray(x[perm[n_held:]]), t)
    held = jax.tree.map(lambda x: jnp.asarray(x[perm[:n_held]]), t)
    mean, std = obs_stats(np.asarray(train.obs))
    train.check()
    return ExpertData(train, held, jnp.asarray(mean), jnp.asarray(std), jnp.asarray(perm[n_held:], jnp.int32),
                      jnp.asarray(perm[:n_held], jnp.int32))


def in_order(data: ExpertData, heldout: bool = False) -> Transition:
    """The training rows (with ``heldout``, all rows: whole episodes) in their episodes'
    order, for what looks along trajectories (GCL's cost regularizers, feature
    expectations). Wherever a row's s' is not the next row's s (a held-out row missing from
    the middle of an episode, an episode's end), the row is marked truncated, so no stretch
    of steps crosses it."""
    if data.train_index is None or (heldout and data.heldout_index is None):
        raise JaxilError("these expert data carry no episode order (train_index); build them with expert_data().")
    rows, index = data.train, data.train_index
    if heldout:
        rows = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), rows, data.heldout)
        index = jnp.concatenate([index, data.heldout_index])
    order = jnp.argsort(index)
    rows = jax.tree.map(lambda x: x[order], rows)
    continues = jnp.all(rows.next_obs[:-1] == rows.obs[1:], axis=-1) & (jnp.diff(index[order]) == 1)
    return rows.replace(truncated=rows.truncated | ~jnp.append(continues, False))


def at_horizon(episodes: list[Episode], info: DatasetInfo, env: Env) -> tuple[list[Episode], DatasetInfo]:
    """Episodes cut to ``env``'s step limit (the cut a truncation: what the demonstrator did
    in its first H steps) and references for that limit: the expert's, the cut episodes'
    mean return; the random policy's, measured on ``env``. For a run with another horizon
    than the data's (e.g. ilpyt's 200-step CartPole-v0 on 500-step data)."""
    h = env.spec.max_episode_steps
    cut = [e if len(e) <= h else Episode(e.observations[: h + 1], e.actions[:h], e.rewards[:h], e.terminations[:h],
                                         np.append(e.truncations[: h - 1], True))
           for e in episodes]
    note = f"episodes cut to the run's {h}-step horizon; references measured for it"
    return cut, dataclasses.replace(info, random_return=measure_random_return(env),
                                    expert_return=float(np.mean([e.ret for e in cut])),
                                    evaluation=(info.evaluation + "; " if info.evaluation else "") + note)


def sample(key: jax.Array, data: Transition, batch_size: int) -> Transition:
    """A uniform batch drawn with replacement (inside jit)."""
    idx = jax.random.randint(key, (batch_size,), 0, data.size)
    batch = jax.tree.map(lambda x: x[idx], data)
    chex.assert_axis_dimension(batch.obs, 0, batch_size)
    return batch


def list_datasets(roots: list[Path] | None = None) -> list[dict]:
    """One row per dataset found under ``roots`` (default: shipped + local store), with a
    ``status``: "ok", or what is broken (a dataset that cannot be read is listed, not skipped)."""
    roots = roots if roots is not None else [SHIPPED_ROOT, local_minari_root()]
    rows, seen = [], set()
    for root in roots:
        for meta_file in sorted(Path(root).glob("**/data/metadata.json")):
            if ".work" in meta_file.parts:
                continue
            fallback_id = str(meta_file.parent.parent.relative_to(root))
            try:
                meta = json.loads(meta_file.read_text())
                if not isinstance(meta, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as err:
                rows.append(_broken_row(fallback_id, meta_file, f"corrupt metadata.json ({err})"))
                continue
            dataset_id = meta.get("dataset_id", fallback_id)
            if dataset_id in seen:
                continue
            seen.add(dataset_id)
            j = meta.get("jaxil") or {}
            if isinstance(j, str):
                try:
                    j = json.loads(j)
                except ValueError:
                    j = {"corrupt": True}
            mean_return, status = _mean_return(meta_file.parent)
            if status == "ok" and j and (missing := [k for k in ("env", "backend") if k not in j]
                        + [k for k in ("ref_min_score", "ref_max_score") if meta.get(k) is None]):
                status = f"incomplete card (no {', '.join(missing)})"
            rows.append({
                "id": dataset_id,
                "env": j.get("env", "?"),
                "backend": j.get("backend", "?"),
                "episodes": meta.get("total_episodes"),
                "transitions": meta.get("total_steps"),
                "mean_return": mean_return,
                "ref_random": meta.get("ref_min_score"),
                "ref_expert": meta.get("ref_max_score"),
                "made_by": "jaxil" if j else "external",
                "status": status,
                "path": str(meta_file.parent.parent),
            })
    return rows


def _broken_row(dataset_id: str, meta_file: Path, why: str) -> dict:
    return {"id": dataset_id, "env": "?", "backend": "?", "episodes": None, "transitions": None, "mean_return": None,
            "ref_random": None, "ref_expert": None, "made_by": "?", "status": why,
            "path": str(meta_file.parent.parent)}


def _mean_return(data_dir: Path) -> tuple[float | None, str]:
    """(mean episode return stored in a dataset's HDF5 file, "ok"), or (None, what is wrong)."""
    try:
        import h5py

        with h5py.File(data_dir / "main_data.hdf5", "r") as f:
            value = float(np.mean([np.sum(f[k]["rewards"][()], dtype=np.float64) for k in f.keys()]))
    except Exception as err:  # h5py raises many kinds for missing or damaged files
        return None, f"unreadable main_data.hdf5 ({type(err).__name__})"
    return (value, "ok") if np.isfinite(value) else (None, "non-finite rewards")
