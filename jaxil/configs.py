"""What every algorithm's ``Config`` shares: static fields, JSON round trips, and the
range of every hyperparameter, checked when a Config is built.

A Config is a frozen pytree (``flax.struct.dataclass``): fields that fix shapes or
structure are :func:`static`; float hyperparameters are leaves, so they may be arrays
(a sweep is a ``vmap`` over Configs). One name means one thing in every Config
(``lr`` is always a learning rate, ``gamma`` a discount), so the ranges live in one
table, :data:`RANGES`, keyed by field name; ``tests/test_bad_input.py`` checks that every
numeric field of every Config is in it. Values are checked as far as they are known:
concrete scalars and arrays (every element of a sweep) always, tracers (a Config built
inside ``jit`` or ``vmap``) never.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import jax
import numpy as np
from flax import struct

from jaxil.errors import JaxilError


def static(default: Any):
    """A Config field that fixes shapes or structure: part of the treedef, not a leaf
    (changing it recompiles; it cannot be vmapped). Float hyperparameters stay leaves."""
    return struct.field(pytree_node=False, default=default)


def is_static_zero(x: Any) -> bool:
    """True for a plain Python 0 (not an array): a loss term with this weight can be left
    out of the compiled program. Array weights (sweeps) always keep their term."""
    return isinstance(x, (int, float)) and x == 0


def known_values(x: Any) -> np.ndarray | None:
    """The values of a hyperparameter known at construction (every element of an array),
    or None when they are not: a tracer (a Config built inside jit or vmap) or a
    placeholder while JAX rebuilds the pytree."""
    if isinstance(x, (bool, jax.core.Tracer)):
        return None
    if isinstance(x, (int, float, np.number)):
        return np.asarray(x, dtype=np.float64)
    # arrays; anything else (None, ShapeDtypeStruct, ...) is a placeholder of some transformation
    if isinstance(x, (np.ndarray, jax.Array)) and np.issubdtype(x.dtype, np.number):
        # numpy, not jnp: a host-side check should not dispatch a device computation.
        return np.asarray(x, dtype=np.float64)
    return None


def concrete_max(x: Any) -> float | None:
    """The largest known value of a hyperparameter, or None (see :func:`known_values`)."""
    values = known_values(x)
    return None if values is None or values.size == 0 else float(np.max(values))


def config_to_json(config) -> dict:
    """A Config as plain JSON values (array-valued fields become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=lambda x: np.asarray(x).tolist()))


def config_from_json(config_class, fields: dict):
    """The Config of class ``config_class`` that :func:`config_to_json` wrote; keys that are
    not fields of the class are ignored (lists become tuples, as sizes are)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if k in names})


# --------------------------------------------------------------------------------------
# Ranges. Each check takes the known values (an array) and says whether all are valid.

Check = tuple[str, Callable[[np.ndarray], bool]]
POSITIVE: Check = ("positive and finite", lambda v: bool(np.all(np.isfinite(v)) and np.all(v > 0)))
NONNEGATIVE: Check = ("non-negative and finite", lambda v: bool(np.all(np.isfinite(v)) and np.all(v >= 0)))
UNIT: Check = ("in [0, 1]", lambda v: bool(np.all((v >= 0) & (v <= 1))))
FINITE: Check = ("finite", lambda v: bool(np.all(np.isfinite(v))))
SIZE: Check = ("positive (a whole number ≥ 1)", lambda v: bool(np.all(v >= 1) and np.all(v == np.round(v))))
NOT_NAN: Check = ("a number (±inf allowed, not NaN)", lambda v: not bool(np.any(np.isnan(v))))
DECAY: Check = ("in (0, 1]", lambda v: bool(np.all((v > 0) & (v <= 1))))
COUNT: Check = ("non-negative (a whole number ≥ 0)", lambda v: bool(np.all(v >= 0) and np.all(v == np.round(v))))

RANGES: dict[str, Check] = {
    # learning rates
    **dict.fromkeys(("lr", "actor_lr", "critic_lr", "alpha_lr", "disc_lr", "energy_lr", "ppo_lr", "warm_start_lr"),
                    POSITIVE),
    # discounts, rates and shares
    **dict.fromkeys(("gamma", "tau", "gae_lambda", "td_weight", "ibc_weight", "expert_fraction",
                     "action_noise_fraction", "eps_start", "eps_end", "eps_decay"), UNIT),
    # loss weights and noise scales (0 turns a term off)
    **dict.fromkeys(("gp_weight", "l2_weight", "ent_weight", "ent_coef", "vf_coef", "ibc_coef", "td_coef", "q_expert_weight",
                     "hinge_weight", "action_noise", "shaping"), NONNEGATIVE),
    # bounds, clips, temperatures and scales
    **dict.fromkeys(("gp_target", "max_reward", "max_energy", "max_q", "max_grad_norm", "clip_eps", "init_alpha",
                     "alpha", "reward_scale", "awr_max_weight"), POSITIVE),
    **dict.fromkeys(("q_expert_target", "target_entropy_scale"), FINITE),
    # learned dynamics: std bounds, loss weights, hold-out share and improvement
    **dict.fromkeys(("min_std", "max_std"), POSITIVE),
    **dict.fromkeys(("bound_weight", "improvement"), NONNEGATIVE),
    "holdout_ratio": UNIT,
    # model-based IRL: the reward's learning rate, the share of expert rollout starts, the critic's final rate
    **dict.fromkeys(("reward_lr", "critic_lr_min"), POSITIVE),
    "expert_starts": UNIT,
    # model-based RL: the uncertainty penalty's weight, its target and its learning rate
    **dict.fromkeys(("penalty_init", "penalty_lr"), POSITIVE),
    "penalty_target": NONNEGATIVE,
    # tabular IRL: stopping tolerances (0 turns a rule off)
    **dict.fromkeys(("linf_eps", "grad_eps"), NONNEGATIVE),
    # density reward: the kernel's bandwidth
    "bandwidth": POSITIVE,
    # DAgger: the exponential β schedule's factor
    "beta_decay": DECAY,
    # preference teachers: temperature, discount, mistakes, ties
    **dict.fromkeys(("temperature", "equal_within"), NONNEGATIVE),
    **dict.fromkeys(("discount", "mistake", "initial_fraction"), UNIT),
    "label_clip": POSITIVE,
    "skip_below": NOT_NAN,
    **dict.fromkeys(("comparisons", "rounds", "fragment_length", "oversampling", "reward_updates", "initial_multiplier",
                     "dataset_size", "recent_steps"), SIZE),
    # GCL's cost regularizers; AppL's stopping margin, its solver's rate and sizes, and its policy buffer (0: all)
    **dict.fromkeys(("lcr_coef", "mono_coef", "epsilon"), NONNEGATIVE),
    "solver_lr": POSITIVE,
    **dict.fromkeys(("solver_steps", "feature_episodes"), SIZE),
    "policy_buffer": COUNT,
    **dict.fromkeys(("adv_clip", "model_lr", "model_max_grad_norm", "bound"), POSITIVE),
    "adv_weight": NONNEGATIVE,
    # sizes and counts (static)
    **dict.fromkeys(("steps", "eval_every", "eval_episodes", "batch_size", "expert_batch", "offline_batch",
                     "replay_batch", "buffer_size", "num_envs", "updates_per_step", "rollout_steps", "num_epochs",
                     "num_minibatches", "disc_updates", "num_qs", "target_update_every", "members", "elites",
                     "max_holdout", "patience", "real_batch", "rollout_batch", "horizon", "rollout_every",
                     "model_buffer_size", "model_update_every", "model_steps", "adv_batch", "adv_horizon", "sl_batch",
                     "model_every", "model_rows", "model_members", "model_elites", "model_batch", "model_epochs",
                     "model_patience", "min_horizon", "max_horizon", "horizon_to", "reward_every", "reward_batch",
                     "critic_decay_steps", "rampdown_rounds", "round_steps", "updates_per_round"), SIZE),
    **dict.fromkeys(("warmup_steps", "warm_start_bc", "uniform_negatives", "horizon_from"), COUNT),
}
WIDTHS = ("hidden", "disc_hidden", "model_hidden", "reward_hidden")  # layer widths: a tuple of whole numbers ≥ 1 (empty: linear)
ACTIVATIONS = ("activation", "disc_activation", "reward_activation")  # names of jaxil.nets.mlp.ACTIVATIONS


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def validate(config) -> None:
    """Raise :class:`JaxilError` for the first field of ``config`` outside its range."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in WIDTHS:
            widths = value if isinstance(value, (tuple, list)) else (value,)
            if not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in widths):
                raise JaxilError(
                    f"{f.name} must be layer widths, each a whole number ≥ 1 ({flag(f.name)}), got {value}; "
                    f"e.g. {flag(f.name)} 256 256."
                )
            continue
        if f.name in ACTIVATIONS:
            from jaxil.nets.mlp import ACTIVATIONS as known

            if value not in known:
                raise JaxilError(f"{f.name} must be one of {', '.join(sorted(known))} ({flag(f.name)}), got {value!r}.")
            continue
        if f.name not in RANGES:
            continue
        what, ok = RANGES[f.name]
        if isinstance(value, bool):
            raise JaxilError(f"{f.name} must be {what} ({flag(f.name)}), got {value}.")
        values = known_values(value)
        if values is None or values.size == 0 or ok(values):
            continue
        bad = [v for v in values.reshape(-1).tolist() if not ok(np.asarray(v))]
        shown = value if values.ndim == 0 else f"{values.tolist()} (out of range: {bad})"
        raise JaxilError(f"{f.name} must be {what} ({flag(f.name)}), got {shown}.")


def check_type(config, config_class, where: str) -> None:
    """A clear error when ``where`` (e.g. ``bc.make_train``) gets another algorithm's Config."""
    if not isinstance(config, config_class):
        got = f"{type(config).__module__}.{type(config).__qualname__}"
        raise JaxilError(
            f"{where} takes a {config_class.__module__}.{config_class.__qualname__}, got {got}; "
            f"build the Config of the algorithm you call."
        )


@struct.dataclass
class Config:
    """The base of every algorithm's Config: builds are validated against :data:`RANGES`.
    A subclass with its own ``__post_init__`` calls ``super().__post_init__()`` first."""

    def __post_init__(self) -> None:
        validate(self)


def numeric_fields(config_class) -> list[str]:
    """The fields of a Config class that hold numbers (what :data:`RANGES` must cover)."""
    out = []
    for f in dataclasses.fields(config_class):
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, (int, float)) and not isinstance(default, bool) or f.name in WIDTHS:
            out.append(f.name)
    return out

