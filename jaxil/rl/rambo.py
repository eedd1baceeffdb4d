"""RAMBO (Rigter et al. 2022): offline RL against an adversarially trained model, with
SAC as the learner, as CleanIL runs it.

The policy learns as in MOPO but without a penalty: SAC on data rows plus rows imagined
by the model (one elite per row; rows leaving |ŝ′| < ``bound`` are dropped, terminated
rows roll on). Every ``model_update_every`` updates the model (its elites only) takes
``model_steps`` adversarial steps, each on ``adv_batch`` imagined transitions of the
deterministic policy and a supervised minibatch of the data:

    A  = r + γ (1 − d′) min_i Q_i(s′, π(s′)) − min_i Q_i(s, a)      (the online critics,
         no entropy term; (s′, r) sampled from the model, held fixed)
    Â  = clip((A − mean A)/(std A + 1e-6), −adv_clip, adv_clip)
    L  = adv_weight · mean[Â · log p(s′, r | s, a)] / (obs_dim + 1) + L_sl

log p is the elites' equal-weight mixture, L_sl the ensemble loss of
:mod:`jaxil.rl.dynamics` on a minibatch per member (each member its own rows). Lowering
L makes transitions good for the policy less likely: the model learns pessimism where
the data does not pin it down. The adversarial rollouts advance step by step and restart
from fresh data states after ``adv_horizon`` steps or on leaving the bound.

Where CleanIL differs, on purpose: the input scaler stays the one the model was fitted
with (CleanIL refits it on every adversarial phase), and the supervised rows are drawn
from all of the data at every step (CleanIL draws them from a fixed subset of
min(256·100·1.2, N) rows per phase, with a hold-out it only logs).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data.datasets import sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.loop import Train
from jaxil.rl import dynamics, model_based, sac
from jaxil.types import Transition


@struct.dataclass
class Config(model_based.Config):
    """RAMBO with CleanIL's settings (Huber critics; 1000 adversarial model steps at lr
    1e-4 every 1000 updates, adversarial weight 0.1, advantage clip 10)."""

    critic_loss: str = static("huber")
    adv_weight: float = 0.1
    """weight of the adversarial term."""
    adv_clip: float = 10.0
    """clip of the normalised advantage."""
    model_lr: float = 1e-4
    """Adam learning rate of the adversarial model steps."""
    model_max_grad_norm: float = 1000.0
    """global gradient-norm clip of the model steps."""
    bound: float = 30.0
    """rows whose standardised next state leaves |ŝ′| < bound are dropped."""
    model_update_every: int = static(1000)
    """updates between adversarial phases (a multiple of rollout_every)."""
    model_steps: int = static(1000)
    """adversarial model steps per phase."""
    adv_batch: int = static(256)
    """imagined transitions per adversarial step."""
    adv_horizon: int = static(40)
    """steps after which an adversarial rollout restarts from data."""
    sl_batch: int = static(256)
    """data rows per member in the supervised term."""

    def __post_init__(self) -> None:
        super().__post_init__()  # every size is checked ≥ 1 first
        if self.model_update_every % self.rollout_every:
            raise JaxilError(f"model_update_every ({self.model_update_every}) must be a multiple of rollout_every "
                             f"({self.rollout_every}).")

    @property
    def period(self) -> int:
        return self.model_update_every


@struct.dataclass
class State:
    learner: sac.State
    model: dynamics.Model  # the elites, trained adversarially
    model_opt: optax.OptState
    adv_obs: jax.Array  # (adv_batch, obs) where each adversarial rollout stands
    adv_t: jax.Array  # (adv_batch,) its steps so far
    config: Config


def model_optimizer(config: Config) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.model_max_grad_norm), optax.adam(config.model_lr))


def init(key: jax.Array, config: Config, spec: EnvSpec, model: dynamics.Model,
         start_obs: jax.Array | None = None) -> State:
    """The SAC learner and the model reduced to its elites; adversarial rollouts start at
    ``start_obs`` (adv_batch, obs) (zeros if not given; make_train draws them from data)."""
    configs.check_type(config, Config, "rambo.init")
    model = dynamics.elites_only(model)
    start = jnp.zeros((config.adv_batch, spec.obs_dim)) if start_obs is None else start_obs
    return State(sac.init(key, config.sac_config(), spec), model, model_optimizer(config).init(model.params), start,
                 jnp.zeros(config.adv_batch, jnp.int32), config)


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """SAC on a mixed batch of data and model rows."""
    learner, metrics = sac.update(state.learner, batch)
    return state.replace(learner=learner), metrics


def policy(state: State, obs: jax.Array):
    return sac.policy(state.learner, obs)


def min_q(learner: sac.State, obs: jax.Array, action: jax.Array) -> jax.Array:
    return jnp.min(sac.q_values(learner, learner.critic_params, obs, action), axis=0)


def advantage(state: State, t: Transition, key: jax.Array | None = None) -> jax.Array:
    """A = r + γ(1 − d′) min Q(s′, π(s′)) − min Q(s, a) with the online critics and the
    deterministic policy (RAMBO's; ``key`` unused, the signature of an ``advantage_fn``)."""
    learner = state.learner
    next_v = min_q(learner, t.next_obs, sac.policy(learner, t.next_obs).mode())
    return t.reward + state.config.gamma * (1.0 - t.terminated) * next_v - min_q(learner, t.obs, t.action)


def normalise(adv: jax.Array, clip: jax.Array | float) -> jax.Array:
    """Â = clip((A − mean A)/(std A + 1e-6), ±clip)."""
    return jnp.clip((adv - adv.mean()) / (adv.std() + 1e-6), -clip, clip)


def normalised_advantage(state: State, t: Transition) -> jax.Array:
    """RAMBO's Â of transitions ``t``."""
    return normalise(advantage(state, t), state.config.adv_clip)


def adversarial_loss(params, state: State, t: Transition, adv: jax.Array, sl_batch: Transition) -> tuple[jax.Array, dict]:
    """adv_weight · mean[Â log p(s′, r | s, a)]/(obs_dim + 1) + the ensemble's supervised loss
    (Â held fixed)."""
    model = state.model.replace(params=params)
    log_p = dynamics.log_likelihood(model, t.obs, t.action, t.next_obs, t.reward)
    adv_loss = jnp.mean(jax.lax.stop_gradient(adv) * log_p) / (state.model.spec.obs_dim + 1)
    sl_loss, _ = dynamics.model_loss(params, model, sl_batch)
    return state.config.adv_weight * adv_loss + sl_loss, {"model_adv_loss": adv_loss, "model_sl_loss": sl_loss}


Act = Callable[[jax.Array, jax.Array], jax.Array]  # (key, obs) -> action
ACT_STREAM, ADVANTAGE_STREAM = 0x61637421, 0x61647621


def adversarial_step(state, key: jax.Array, data: Transition, terminated_fn: Callable[[jax.Array], jax.Array], *,
                     act: Act | None = None, advantage_fn: Callable = advantage,
                     starts: Callable[[jax.Array, int], jax.Array] | None = None) -> tuple[State, dict[str, jax.Array]]:
    """One model step on the current adversarial rollouts, which then advance one step.

    ``state`` is a :class:`State` or any state with its fields (the model-based IRL
    family's); the hooks are where those differ from RAMBO: ``act(key, obs)`` (default:
    the deterministic policy), ``advantage_fn(state, t, key)`` (the raw advantage of the
    model's transitions ``t``; default :func:`advantage`), ``starts(key, n)`` (fresh start
    states; default: uniform data rows). ``data`` also gives the supervised minibatches."""
    cfg, model = state.config, state.model
    k_model, k_sl, k_fresh = jax.random.split(key, 3)
    obs = state.adv_obs
    # the hooks' keys: their own streams (fold_in(key, i) for i < 3 would repeat a split key)
    action = sac.policy(state.learner, obs).mode() if act is None else act(jax.random.fold_in(key, ACT_STREAM), obs)
    next_obs, reward = dynamics.step(model, k_model, obs, action)
    reward = jnp.zeros(obs.shape[0]) if reward is None else reward
    t = Transition(obs, action, reward, next_obs, terminated_fn(next_obs), jnp.zeros(obs.shape[0], bool))
    adv = normalise(advantage_fn(state, t, jax.random.fold_in(key, ADVANTAGE_STREAM)), cfg.adv_clip)
    members = model.config.members
    sl = jax.tree.map(lambda x: x.reshape((members, cfg.sl_batch) + x.shape[1:]),
                      sample(k_sl, data, members * cfg.sl_batch))
    (_, metrics), grads = jax.value_and_grad(adversarial_loss, has_aux=True)(model.params, state, t, adv, sl)
    updates, opt = model_optimizer(cfg).update(grads, state.model_opt, model.params)
    model = model.replace(params=optax.apply_updates(model.params, updates))
    # advance: rows past the bound or the horizon restart from data
    mean, std = model.scaler.mean[: model.spec.obs_dim], model.scaler.std[: model.spec.obs_dim]
    keep = jnp.all(jnp.abs((next_obs - mean) / std) < cfg.bound, -1) & (state.adv_t + 1 < cfg.adv_horizon)
    keep &= jnp.all(jnp.isfinite(next_obs), -1)
    fresh = sample(k_fresh, data, obs.shape[0]).obs if starts is None else starts(k_fresh, obs.shape[0])
    return state.replace(model=model, model_opt=opt, adv_obs=jnp.where(keep[:, None], next_obs, fresh),
                         adv_t=jnp.where(keep, state.adv_t + 1, 0)), metrics


def make_train(
    config: Config,
    data: Transition,
    model: dynamics.Model,
    env: Env,
    reference: Reference | None = None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` updates on ``data`` and in
    ``model`` (adversarially trained as it goes), evaluated on ``env``. One loop step is
    ``model_update_every`` updates (with their rollouts), then one adversarial phase."""
    configs.check_type(config, Config, "rambo.make_train")

    def init_learner(key: jax.Array, data: Transition) -> State:
        k_init, k_start = jax.random.split(key)
        return init(k_init, config, env.spec, model, sample(k_start, data, config.adv_batch).obs)

    def period(ts: model_based.TrainState, data: Transition, terminated_fn: Callable):
        def rollout_and_learn(ts: model_based.TrainState, key: jax.Array):
            k_start, k_roll, k_updates = jax.random.split(key, 3)
            rows, live, info = model_based.imagine(k_start, k_roll, ts.learner.learner, ts.learner.model, data, config,
                                                   terminated_fn, prune="bound")
            buffer = model_based.write(ts.model_buffer, rows, live)
            learner, metrics = model_based.learn(k_updates, ts.learner, buffer, data, config, update)
            metrics |= {"rollout_live": live.mean(), "rollout_nonfinite": info["nonfinite"] / config.rollout_batch}
            return ts.replace(learner=learner, model_buffer=buffer), metrics

        return model_based.adversarial_period(ts, config, rollout_and_learn,
                                              lambda s, k: adversarial_step(s, k, data, terminated_fn))

    return model_based.make_loop(config, data, model, env, reference, terminated_fn, "RAMBO", init_learner, period,
                                 policy)
