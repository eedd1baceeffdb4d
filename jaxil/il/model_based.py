"""What offline model-based IRL shares (OMLIRL, RMIRL, RMIRL-implicit; CleanIL's
protocol, ``../shared/reference/cleanil.md`` §3.7–3.9).

Data: E, the expert's rows (rewards never read), and T = E ∪ the sub-optimal rows with
their rewards dropped; the learner standardizes observations with T's statistics. A
dynamics ensemble fitted to T (its reward head, if any, sliced off) imagines rows:

    rollouts: every ``rollout_every`` updates, ``rollout_batch`` start states, a share
        ``expert_starts`` of them from E and the rest from T, ``horizon`` steps of the
        current stochastic policy; a row ends when its next state leaves |ŝ′| < ``bound``
        (standardized by the model's scaler), terminated rows roll on with a sticky flag.

The explicit-reward learners (OMLIRL, RMIRL) interleave the policy's SAC updates with
reward updates, all on the current reward r_ψ (clipped to ±``max_reward``):

    policy (every update):   SAC on ``real_batch`` T rows + the rest model rows, each
        labelled r̂ = r_ψ(s, a) − λ·u   (u: the row's stored model uncertainty, 0 on data
        rows; λ: the solver's current penalty weight, 0 without one)
    reward (every ``reward_every`` updates), E rows against as many model rows M:
        L_r = −(E_E r_ψ − E_M r_ψ) + λ_gp E_x̂[max(‖∇r_ψ(x̂)‖_∞ − g, 0)²] + λ_2 ½‖ψ‖²

with x̂ interpolating standardized [s, a] inputs of E and M: maximum-likelihood IRL's
reward step (Zeng et al. 2022), whose gradient raises the reward of the expert's
transitions against the policy's imagined ones (a Wasserstein critic, as in off-policy
GAIL; :func:`jaxil.il.gail.wasserstein_loss`). Unlike CleanIL, the policy's SAC critic
is not clipped to ±1000: r_ψ is bounded by max_reward and only the penalty's mean is held
at its target, so Q has no hard bound from below in OMLIRL; the stop on non-finite
rollouts (:func:`jaxil.rl.model_rollouts.nonfinite_problem`) catches a run that diverges.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.data import replay
from jaxil.data.datasets import ExpertData, sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import offline
from jaxil.il.gail import wasserstein_loss
from jaxil.loop import Train
from jaxil.losses import gradient_penalty, l2_penalty
from jaxil.nets import RewardModel
from jaxil.rl import dynamics, model_rollouts, rambo, sac
from jaxil.rl import model_based as solver_loop
from jaxil.types import RewardFn, Transition, check_batch


@struct.dataclass
class IRLConfig(configs.Config):
    """The model-based IRL loop's settings, mixed into each algorithm's Config with its
    solver's (MOPO's or RAMBO's)."""

    expert_starts: float = static(0.5)
    """share of rollout start states drawn from the expert's rows (the rest from T)."""
    bound: float = 30.0
    """imagined rows end when the standardized next state leaves |ŝ′| < bound."""


@struct.dataclass
class RewardConfig(IRLConfig):
    """The explicit reward model's settings (OMLIRL, RMIRL), CleanIL's: 3×256 SiLU, clip
    ±10, margin penalty on ‖∇r‖_∞ above 1 with weight 10, l2 1e-5, one step every 10
    policy updates on 256 expert vs 256 model rows."""

    reward_lr: float = 3e-4
    """Adam learning rate of the reward model."""
    reward_hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of the reward model."""
    reward_activation: str = static("silu")
    """activation of the reward model."""
    reward_state_only: bool = static(False)
    """learn r_ψ(s) instead of r_ψ(s, a): a reward of the state alone cannot encode the
    expert's actions, so it is the one to transfer to a fresh agent (Fu et al. 2018)."""
    max_reward: float = 10.0
    """the reward is clipped to ±max_reward."""
    gp_weight: float = 10.0
    """weight of the reward's gradient penalty (0: none)."""
    gp_target: float = 1.0
    """gradient ∞-norm above which the penalty applies (one-sided, at interpolates)."""
    l2_weight: float = 1e-5
    """weight of ½ Σψ² on the reward's parameters."""
    reward_every: int = static(10)
    """policy updates per reward update (a divisor of rollout_every)."""
    reward_batch: int = static(256)
    """expert rows (and as many model rows) per reward update."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rollout_every % self.reward_every:
            raise JaxilError(f"reward_every ({self.reward_every}) must divide rollout_every ({self.rollout_every}).")


@struct.dataclass
class AdversarialConfig(IRLConfig):
    """What RMIRL and RMIRL-implicit add to RAMBO's adversarial model training."""

    max_q: float = 1000.0
    """clip of Q in the adversarial advantage (and RMIRL-implicit's TD targets)."""


# --------------------------------------------------------------------------------------
# The explicit reward. ``state`` is an algorithm's State with fields ``learner`` (SAC),
# ``reward_params``, ``reward_opt`` and ``config``.


def reward_net(config: RewardConfig) -> RewardModel:
    return RewardModel(config.reward_hidden, config.reward_activation, state_only=config.reward_state_only)


def init_reward(key: jax.Array, config: RewardConfig, obs_dim: int, action_dim: int) -> tuple[Any, optax.OptState]:
    params = reward_net(config).init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, action_dim)))
    return params, optax.adam(config.reward_lr).init(params)


def reward(state, params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """r_ψ(s, a) on raw observations (standardized as the learner's), clipped; (B,)."""
    cfg = state.config
    r = reward_net(cfg).apply(params, sac.normalize(state.learner, obs), action)
    return jnp.clip(r, -cfg.max_reward, cfg.max_reward)


def reward_loss(params, state, expert: Transition, fake: Transition, key: jax.Array) -> tuple[jax.Array, dict]:
    """L_r = −(E_E r_ψ − E_M r_ψ) + gradient penalty + l2."""
    cfg = state.config
    r_e, r_f = reward(state, params, expert.obs, expert.action), reward(state, params, fake.obs, fake.action)
    loss = wasserstein_loss(r_e, r_f)
    gp, l2 = jnp.zeros(()), jnp.zeros(())
    if not is_static_zero(cfg.gp_weight):
        obs_dim = expert.obs.shape[-1]

        def row(t: Transition) -> jax.Array:
            return jnp.concatenate([sac.normalize(state.learner, t.obs), t.action], -1)

        def r_row(x: jax.Array) -> jax.Array:  # standardized [s, a] -> r, the clip included
            r = reward_net(cfg).apply(params, x[None, :obs_dim], x[None, obs_dim:])[0]
            return jnp.clip(r, -cfg.max_reward, cfg.max_reward)

        gp = gradient_penalty(r_row, row(expert), row(fake), key, target=cfg.gp_target, weight=cfg.gp_weight)
    if not is_static_zero(cfg.l2_weight):
        l2 = cfg.l2_weight * l2_penalty(params)
    metrics = {"reward_loss": loss, "reward_gp": gp, "reward_expert": jnp.mean(r_e), "reward_model": jnp.mean(r_f)}
    return loss + gp + l2, metrics


def update_reward(state, expert: Transition, fake: Transition) -> tuple[Any, dict[str, jax.Array]]:
    """One Adam step of r_ψ on expert rows against model rows ``fake``."""
    state, key = offline.split_learner_key(state)
    grads, metrics = jax.grad(reward_loss, has_aux=True)(state.reward_params, state, expert, fake, key)
    updates, opt = optax.adam(state.config.reward_lr).update(grads, state.reward_opt, state.reward_params)
    return state.replace(reward_params=optax.apply_updates(state.reward_params, updates), reward_opt=opt), metrics


def update_policy(state, batch: Transition, penalty: jax.Array | float = 0.0) -> tuple[Any, dict[str, jax.Array]]:
    """One SAC update on ``batch`` labelled r̂ = r_ψ(s, a) − penalty·u, u = ``batch.reward``
    (the uncertainty stored with model rows, 0 on data rows)."""
    r = reward(state, state.reward_params, batch.obs, batch.action) - penalty * batch.reward
    learner, metrics = sac.update(state.learner, batch.replace(reward=jax.lax.stop_gradient(r)))
    return state.replace(learner=learner), metrics | {"policy_reward": jnp.mean(r)}


def check_iteration(state, batch: tuple) -> tuple[Transition, Transition, Transition]:
    """``batch`` as ``update`` takes it, ``(expert, model_rows, policy_batch)``, checked."""
    if not isinstance(batch, tuple) or len(batch) != 3:
        raise JaxilError("batch is (expert, model_rows, policy_batch) transitions.")
    for b, name in zip(batch, ("expert", "model_rows", "policy_batch")):
        check_batch(b, state.learner.spec, name)
    if batch[0].size != batch[1].size:
        raise JaxilError(f"expert ({batch[0].size} rows) and model_rows ({batch[1].size}) must have as many rows: "
                         "the reward's gradient penalty interpolates between pairs of them.")
    return batch


def learned_reward(state) -> RewardFn:
    """r_ψ(s, a), clipped, as a standalone ``reward_fn(obs, action, next_obs, terminated)``
    (without the uncertainty penalty, which belongs to the solver, not to the task)."""
    return lambda obs, action, next_obs, terminated: reward(state, state.reward_params, obs, action)


def learn(key: jax.Array, state, buffer: replay.ReplayBuffer, data: Transition, expert: Transition,
          config, penalty: Callable[[Any], jax.Array] = lambda state: 0.0) -> tuple[Any, dict[str, jax.Array]]:
    """``rollout_every`` policy updates on T + model rows, after every ``reward_every`` of
    them one reward update (E vs model rows); ``penalty(state)`` is the current λ."""

    def block(state, k: jax.Array):
        k_policy, k_e, k_m = jax.random.split(k, 3)
        policy_step = lambda s, batch: update_policy(s, batch, penalty(s))  # noqa: E731
        state, m_policy = solver_loop.learn(k_policy, state, buffer, data, config, policy_step, config.reward_every)
        state, m_reward = update_reward(state, sample(k_e, expert, config.reward_batch),
                                        replay.sample(k_m, buffer, config.reward_batch))
        return state, m_policy | m_reward

    state, metrics = jax.lax.scan(block, state, jax.random.split(key, config.rollout_every // config.reward_every))
    return state, {k: v.mean() for k, v in metrics.items()}


# --------------------------------------------------------------------------------------
# Adversarial model training (RMIRL, RMIRL-implicit): RAMBO's step with these hooks


def sample_action(state, key: jax.Array, obs: jax.Array) -> jax.Array:
    """a ~ π(·|s): the adversarial rollouts act stochastically here (RAMBO's use the mode)."""
    return sac.policy(state.learner, obs).sample(seed=key)


def soft_advantage(state, t: Transition, key: jax.Array, reward: jax.Array, mask_terminal: bool) -> jax.Array:
    """A = r + γ m (clip(min_i Q_i(s′, a′)) − α log π(a′|s′)) − clip(min_i Q_i(s, a)), a′ ~ π(·|s′),
    the online critics clipped to ±max_q, m = 1 − d′ if ``mask_terminal`` else 1."""
    learner, cfg = state.learner, state.config

    def min_q(obs, action):
        q = jnp.min(sac.q_values(learner, learner.critic_params, obs, action), axis=0)
        return jnp.clip(q, -cfg.max_q, cfg.max_q)

    next_action, next_logp = sac.policy(learner, t.next_obs).sample_and_log_prob(seed=key)
    mask = 1.0 - t.terminated if mask_terminal else 1.0
    return reward + cfg.gamma * mask * (min_q(t.next_obs, next_action) - learner.alpha * next_logp) - min_q(t.obs, t.action)


def init_adversary(config, spec: EnvSpec, model: dynamics.Model, start_obs: jax.Array | None) -> dict[str, Any]:
    """The State fields RAMBO's step trains (RMIRL, RMIRL-implicit): the model reduced to
    its elites, reward head removed, its optimizer, and where the ``adv_batch`` adversarial
    rollouts stand (``start_obs``, zeros if not given) with their step counts."""
    model = dynamics.elites_only(dynamics.without_reward(model))
    start = jnp.zeros((config.adv_batch, spec.obs_dim)) if start_obs is None else start_obs
    return dict(model=model, model_opt=rambo.model_optimizer(config).init(model.params), adv_obs=start,
                adv_t=jnp.zeros(config.adv_batch, jnp.int32))


def adversarial_step(state, key: jax.Array, data: Transition, expert: Transition, terminated_fn: Callable,
                     advantage_fn: Callable) -> tuple[Any, dict[str, jax.Array]]:
    """:func:`jaxil.rl.rambo.adversarial_step` as this family takes it: stochastic actions,
    the algorithm's ``advantage_fn(state, t, key)``, fresh starts mixed like the rollouts'
    and supervised rows from T (``data``)."""
    return rambo.adversarial_step(
        state, key, data, terminated_fn, act=lambda k, obs: sample_action(state, k, obs), advantage_fn=advantage_fn,
        starts=lambda k, n: mixed_starts(k, expert, data, n, state.config.expert_starts))


# --------------------------------------------------------------------------------------
# Rollouts and the loop


def mixed_starts(key: jax.Array, expert: Transition, data: Transition, n: int, expert_share: float) -> jax.Array:
    """``n`` start states, round(expert_share·n) of them expert rows' and the rest T's."""
    n_expert = round(expert_share * n)
    k_e, k_t = jax.random.split(key)
    return jnp.concatenate([sample(k_e, expert, n_expert).obs, sample(k_t, data, n - n_expert).obs])


def imagine(key: jax.Array, learner: sac.State, model: dynamics.Model, expert: Transition, data: Transition, config,
            terminated_fn: Callable, horizon: int | None = None, penalty: bool = False):
    """A rollout of the current stochastic policy from mixed starts, rows ending at the
    bound: :func:`jaxil.rl.model_rollouts.rollout`'s (rows, live, info)."""
    k_start, k_roll = jax.random.split(key)
    starts = mixed_starts(k_start, expert, data, config.rollout_batch, config.expert_starts)

    def act(k, obs):
        return sac.policy(learner, obs).sample(seed=k)

    return model_rollouts.rollout(k_roll, model, act, starts, horizon or config.horizon, terminated_fn, prune="bound",
                                  bound=config.bound, penalty=penalty)


def adversarial_period(ts: solver_loop.TrainState, data: Transition, expert: Transition, terminated_fn: Callable,
                       config, learn_fn: Callable, advantage_fn: Callable) -> tuple:
    """RMIRL's and RMIRL-implicit's loop step: ``model_update_every // rollout_every`` times
    a rollout in the adversarially trained model and ``learn_fn(key, state, buffer)`` (its
    updates), then ``model_steps`` adversarial steps with ``advantage_fn``."""

    def rollout_and_learn(ts: solver_loop.TrainState, key: jax.Array):
        k_roll, k_learn = jax.random.split(key)
        rows, live, info = imagine(k_roll, ts.learner.learner, ts.learner.model, expert, data, config, terminated_fn)
        buffer = solver_loop.write(ts.model_buffer, rows, live)  # rewards 0: the model has no reward head
        state, metrics = learn_fn(k_learn, ts.learner, buffer)
        metrics |= {"rollout_live": live.mean(), "rollout_nonfinite": info["nonfinite"] / config.rollout_batch}
        return ts.replace(learner=state, model_buffer=buffer), metrics

    return solver_loop.adversarial_period(
        ts, config, rollout_and_learn, lambda s, k: adversarial_step(s, k, data, expert, terminated_fn, advantage_fn))


def starting_adversary(init: Callable, config, spec: EnvSpec, expert: Transition) -> Callable:
    """``make_loop``'s ``init_learner`` for an ``init(key, config, spec, model, obs_mean,
    obs_std, start_obs)`` whose adversarial rollouts start from mixed starts."""

    def init_learner(key, model, obs_mean, obs_std, data):
        k_init, k_start = jax.random.split(key)
        starts = mixed_starts(k_start, expert, data, config.adv_batch, config.expert_starts)
        return init(k_init, config, spec, model, obs_mean, obs_std, starts)

    return init_learner


Period = Callable[[solver_loop.TrainState, Transition, Transition, dynamics.Model, Callable], tuple]


def make_loop(
    config,
    expert: ExpertData,
    suboptimal: Transition,
    model: dynamics.Model,
    env: Env,
    reference: Reference | None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None,
    algo: str,
    init_learner: Callable[[jax.Array, dynamics.Model, jax.Array, jax.Array, Transition], Any],
    period: Period,
    policy: Callable,
) -> Train:
    """The loop of a model-based IRL algorithm: T built from ``expert`` and ``suboptimal``
    (rewards dropped), the model's reward head sliced off, then the offline model-based
    loop of :mod:`jaxil.rl.model_based` with ``period(ts, T, E, model, terminated_fn)`` per
    loop step and ``init_learner(key, model, obs_mean, obs_std, T)``."""
    data, obs_mean, obs_std = offline.with_suboptimal(expert, suboptimal, env, algo, drop_rewards=True)
    model, expert_rows = dynamics.without_reward(model), expert.train
    return solver_loop.make_loop(
        config, data, model, env, reference, terminated_fn, algo,
        lambda key, data: init_learner(key, model, obs_mean, obs_std, data),
        lambda ts, data, terminated_fn: period(ts, data, expert_rows, model, terminated_fn), policy,
        reward_head=False,
    )
