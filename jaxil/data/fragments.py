"""Trajectory fragments and preference pairs: what a teacher compares in preference-based
reward learning (Christiano et al. 2017; imitation's fragmenters and PreferenceDataset).

A fragment is ``length`` consecutive steps of one env, inside one episode, cut from a
rollout laid out as the loops collect it: a :class:`Transition` with leaves (T, n, ...),
T steps of n parallel envs. Everything is fixed-shape and runs inside jit.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from PIL import Image

from jaxil.errors import JaxilError
from jaxil.types import Transition

# observations (L, obs_dim) and actions (L, ...) of one fragment -> frames (L, H, W, 3) uint8
Renderer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def fragment_starts(traj: Transition, length: int) -> jax.Array:
    """(T − length + 1, n) mask of the starts whose ``length`` steps stay in one episode:
    no step before the fragment's last ends an episode (the last step may end it)."""
    steps = traj.reward.shape[0]
    if not 1 <= length <= steps:
        raise JaxilError(f"fragments of {length} steps cannot be cut from rollouts of {steps} steps; "
                         f"pass a fragment length in 1..{steps}.")
    done = (traj.terminated | traj.truncated).astype(jnp.int32)
    ends_before = jnp.concatenate([jnp.zeros_like(done[:1]), jnp.cumsum(done, 0)])  # (T + 1, n): ends in [0, t)
    # the fragment [t, t + L) is whole if no end falls in [t, t + L − 1)
    inside = ends_before[length - 1:steps] - ends_before[: steps - length + 1]
    return inside == 0


def cut_fragments(key: jax.Array, traj: Transition, length: int, num: int) -> tuple[Transition, jax.Array]:
    """``num`` fragments drawn uniformly (with replacement) among the whole ones: leaves
    (num, length, ...), and whether any whole fragment existed (else the draws are
    arbitrary and must not be used)."""
    ok = fragment_starts(traj, length)
    flat = ok.reshape(-1)
    idx = jax.random.categorical(key, jnp.where(flat, 0.0, -jnp.inf), shape=(num,))
    t0, env = jnp.divmod(idx, ok.shape[1])
    steps = t0[:, None] + jnp.arange(length)
    fragments = jax.tree.map(lambda x: x[steps, env[:, None]], traj)
    return fragments, jnp.any(flat)


def discounted_returns(reward: jax.Array, discount: float | jax.Array = 1.0) -> jax.Array:
    """Σ_t γ^t r_t over each fragment's steps: (..., L) -> (...)."""
    weights = jnp.power(jnp.asarray(discount, reward.dtype), jnp.arange(reward.shape[-1], dtype=reward.dtype))
    return jnp.sum(reward * weights, -1)


@struct.dataclass
class Comparison:
    """A batch of labelled pairs: fragments ``a`` and ``b`` (leaves (B, L, ...)), the
    probability ``label`` that a is preferred (1, 0, 0.5 for "equal", or soft), and
    ``valid`` (False where the teacher skipped the query)."""

    a: Transition
    b: Transition
    label: jax.Array
    valid: jax.Array

    def without_rewards(self) -> "Comparison":
        """The pairs with the fragments' true rewards zeroed: what a reward model may see (it
        never sees the rewards it is asked to explain)."""
        hide = lambda f: f.replace(reward=jnp.zeros_like(f.reward))  # noqa: E731
        return self.replace(a=hide(self.a), b=hide(self.b))


# --------------------------------------------------------------------------------------
# Human feedback: pairs out to a person, labels back in, through the same Comparison type.

LABELS = {"a": 1.0, "1": 1.0, "b": 0.0, "0": 0.0, "equal": 0.5, "0.5": 0.5}


def export_queries(pairs: Comparison, out_dir: str | Path, render: Renderer | None = None,
                   fps: float = 20.0) -> Path:
    """Write unlabelled pairs for a person to judge: ``fragments.npz`` (each pair's
    observations and actions, a_obs/a_action/b_obs/b_action with a leading pair axis) and
    ``labels.csv`` with one row per pair, ``pair,label``, the label left empty. Fill in
    ``a`` (or 1) when fragment a is better, ``b`` (or 0) when b is, ``equal`` (0.5), or
    ``skip``; then :func:`import_labels`. With ``render`` (an env's ``render``, e.g.
    ``jaxil.envs.make("hopper").render``) each fragment is also drawn as a short clip,
    ``clips/pair_00007_a.gif`` and ``..._b.gif``, at ``fps`` frames a second."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"{side}_{name}": np.asarray(getattr(getattr(pairs, side), name))
              for side in ("a", "b") for name in ("obs", "action", "next_obs")}
    if render is not None:
        (out / "clips").mkdir(exist_ok=True)
        for i in range(len(arrays["a_obs"])):
            for side in ("a", "b"):
                frames = [Image.fromarray(f) for f in render(arrays[f"{side}_obs"][i], arrays[f"{side}_action"][i])]
                frames[0].save(out / "clips" / f"pair_{i:05d}_{side}.gif", save_all=True, append_images=frames[1:],
                               duration=round(1000 / fps), loop=0)
    np.savez_compressed(out / "fragments.npz", **arrays)
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pair", "label"])
        writer.writerows([[i, ""] for i in range(len(arrays["a_obs"]))])
    return out


def import_labels(out_dir: str | Path) -> Comparison:
    """The pairs written by :func:`export_queries` with the labels a person filled into
    ``labels.csv``: rows left empty or marked ``skip`` are invalid (never trained on)."""
    out = Path(out_dir)
    for name in ("fragments.npz", "labels.csv"):
        if not (out / name).is_file():
            raise JaxilError(f"{out} has no {name}; export the queries with export_queries first.")
    try:
        arrays = dict(np.load(out / "fragments.npz"))
    except (OSError, ValueError) as err:
        raise JaxilError(f"{out / 'fragments.npz'} is corrupt ({err}); export the queries again.") from err
    num = len(arrays["a_obs"])
    label, valid = np.full(num, 0.5, np.float32), np.zeros(num, bool)
    with open(out / "labels.csv", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                pair = int(row["pair"])
            except (KeyError, TypeError, ValueError):
                raise JaxilError(f"{out / 'labels.csv'} line {line}: no pair number in {row}; keep the exported "
                                 "pair column.") from None
            if not 0 <= pair < num:
                raise JaxilError(f"{out / 'labels.csv'} line {line} labels pair {pair}, but only pairs 0..{num - 1} "
                                 "were exported; labels must refer to the exported pairs.")
            answer = (row.get("label") or "").strip().lower()
            if answer in ("", "skip"):
                continue
            if answer not in LABELS:
                raise JaxilError(f"{out / 'labels.csv'} line {line}: label {answer!r}; write a, b, equal or skip.")
            label[pair], valid[pair] = LABELS[answer], True

    def side(s: str) -> Transition:
        obs, action, next_obs = (jnp.asarray(arrays[f"{s}_{k}"]) for k in ("obs", "action", "next_obs"))
        zeros = jnp.zeros(obs.shape[:2])
        return Transition(obs, action, zeros, next_obs, zeros.astype(bool), zeros.astype(bool))

    return Comparison(side("a"), side("b"), jnp.asarray(label), jnp.asarray(valid))
