"""Maximum causal entropy IRL (Ziebart 2010, thesis ch. 9–10), finite horizon, on a
tabular MDP whose dynamics are known (``jaxil.envs.tabular``).

The demonstrator is modelled as soft-optimal for an unknown reward r_θ(s) of the
state's observation (linear, or an MLP). Maximising the demonstrations' likelihood under
that model is matching occupancies: with D_θ the (discounted) state occupancy of the
soft-optimal policy for r_θ and D_E the demonstrations',

    L(θ) = Σ_s (D_θ(s) − D_E(s)) · r_θ(s),   D_θ held fixed,
    ∇L   = E_{D_θ}[∇r_θ] − E_{D_E}[∇r_θ]     (feature-expectation matching when r is linear),

and each iteration solves the MDP exactly (soft value iteration, then the occupancy
recursion; ``jaxil.rl.tabular``) before one Adam step. It stops when
‖D_θ − D_E‖_∞ ≤ ``linf_eps`` or ‖∇L‖₂ ≤ ``grad_eps`` (or after ``steps``).

As imitation's ``MCEIRL`` (``../shared/reference/imitation-and-ilpyt.md`` §4): Adam at
1e-2, a state-only reward on the observation matrix, demonstrations as trajectories,
transitions or an occupancy vector, the same stopping rules. Differences, on purpose:
the policy is solved at the run's discount (imitation solves it at γ = 1 whatever the
discount; ``undiscounted_policy=True`` reproduces that), and the iteration that meets a
stopping rule applies no update, so the learned reward is the one that met it (imitation
takes one more step, then returns the policy of the reward before it).

Under jit the stopping rule freezes the state (no data-dependent loop), so seeds, configs
and whole batches of MDPs vmap: ``jax.vmap(lambda m, d, k: make_train(c, m, d)(k))``.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.envs.core import EnvSpec
from jaxil.envs.tabular import TabularEnv, TabularMDP, check_mdp
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference, normalized_score
from jaxil.loop import Train, chunking
from jaxil.nets.actors import Categorical
from jaxil.nets.rewards import RewardModel
from jaxil.rl import tabular
from jaxil.types import Transition

REWARD_INITS = ("random", "zero")


@struct.dataclass
class Config(configs.Config):
    """MCE IRL. Float fields may be arrays (a sweep is a vmap over configs). Defaults
    follow imitation's ``MCEIRL``."""

    lr: float = 1e-2
    """Adam learning rate of the reward."""
    gamma: float = 1.0
    """discount of the occupancies (and of the soft-optimal policy)."""
    linf_eps: float = 1e-3
    """stop once max_s |D_θ(s) − D_E(s)| is at most this."""
    grad_eps: float = 1e-4
    """stop once the reward gradient's l2 norm is at most this."""
    reward_hidden: tuple[int, ...] = static((256,))
    """hidden widths of the reward MLP (empty: linear in the observation, as Ziebart's)."""
    reward_activation: str = static("relu")
    """activation of the reward MLP."""
    reward_init: str = static("random")
    """initial reward parameters: "random" (the layers' default initializers) or "zero"."""
    undiscounted_policy: bool = static(False)
    """imitation's quirk: solve the policy at γ = 1 whatever gamma (only occupancies are discounted)."""
    steps: int = static(2000)
    """most iterations (imitation's max_iter, 1000 by default, is short of CliffWorld's ~1500)."""
    eval_every: int = static(100)
    """iterations between evaluations (one chunk of the chunked driver)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        chunking(self.steps, self.eval_every)
        if self.reward_init not in REWARD_INITS:
            raise JaxilError(f"reward_init must be one of {REWARD_INITS}, got {self.reward_init!r}.")


@struct.dataclass
class State:
    params: chex.ArrayTree
    opt_state: optax.OptState
    mdp: TabularMDP  # the known dynamics (and the true reward, used only to evaluate)
    converged: jax.Array  # a stopping rule was met: the state no longer changes
    step: jax.Array
    config: Config
    net: RewardModel = struct.field(pytree_node=False)


def optimizer(config: Config) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def init(key: jax.Array, config: Config, spec: EnvSpec, mdp: TabularMDP) -> State:
    configs.check_type(config, Config, "mce_irl.init")
    check_mdp(mdp)
    if spec.obs_dim != mdp.observation.shape[1] or spec.num_actions != mdp.num_actions:
        raise JaxilError(f"env spec {spec.name!r} (obs_dim {spec.obs_dim}, {spec.num_actions} actions) does not "
                         f"describe this MDP (obs_dim {mdp.observation.shape[1]}, {mdp.num_actions} actions); "
                         "pass TabularEnv(mdp).spec.")
    net = RewardModel(hidden=config.reward_hidden, activation=config.reward_activation, state_only=True)
    params = net.init(key, jnp.zeros((1, spec.obs_dim)))
    if config.reward_init == "zero":
        params = jax.tree.map(jnp.zeros_like, params)
    return State(params, optimizer(config).init(params), mdp, jnp.zeros((), bool), jnp.zeros((), jnp.int32),
                 config, net)


def reward_of_states(state: State, params: chex.ArrayTree | None = None) -> jax.Array:
    """r_θ(s) for every state s of the MDP: the reward net on the observation matrix, [S]."""
    params = state.params if params is None else params
    return state.net.apply(params, state.mdp.observation.astype(jnp.float32))


def soft_optimal_policy(state: State) -> jax.Array:
    """π[H, S, A]: the soft-optimal policy for the learned reward (what MCE IRL imitates with)."""
    cfg = state.config
    r = reward_of_states(state).astype(state.mdp.transition.dtype)
    return tabular.soft_value_iteration(state.mdp, r, 1.0 if cfg.undiscounted_policy else cfg.gamma)[2]


def occupancy_matching_loss(r: jax.Array, d_policy: jax.Array, d_demo: jax.Array) -> jax.Array:
    """L = Σ_s (D_θ(s) − D_E(s)) r_θ(s); D_θ enters as a constant, so ∇L = E_{D_θ}[∇r] − E_{D_E}[∇r]."""
    return jnp.sum((jax.lax.stop_gradient(d_policy) - d_demo) * r)


def update(state: State, demo_occupancy: jax.Array) -> tuple[State, dict[str, jax.Array]]:
    """One MCE IRL iteration against the demonstrations' occupancy D_E[S]: solve for the
    soft-optimal policy of the current reward and its occupancy D_θ, check the stopping
    rules, and (unless one holds) take one Adam step on L."""
    cfg = state.config
    chex.assert_shape(demo_occupancy, (state.mdp.num_states,))
    r = reward_of_states(state)
    _, d_policy = tabular.occupancy_measures(state.mdp, r.astype(state.mdp.transition.dtype), discount=cfg.gamma,
                                             undiscounted_policy=cfg.undiscounted_policy)
    d_policy, d_demo = d_policy.astype(r.dtype), demo_occupancy.astype(r.dtype)
    loss, grads = jax.value_and_grad(
        lambda p: occupancy_matching_loss(reward_of_states(state, p), d_policy, d_demo))(state.params)
    linf, grad_norm = jnp.max(jnp.abs(d_policy - d_demo)), optax.global_norm(grads)
    converged = state.converged | (linf <= cfg.linf_eps) | (grad_norm <= cfg.grad_eps)
    updates, opt_state = optimizer(cfg).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(converged, b, a), new, old)  # noqa: E731
    new_state = state.replace(params=keep(params, state.params), opt_state=keep(opt_state, state.opt_state),
                              converged=converged, step=state.step + jnp.where(converged, 0, 1))
    metrics = {"loss": loss, "linf": linf, "grad_norm": grad_norm, "converged": converged.astype(jnp.float32),
               "iterations": new_state.step.astype(jnp.float32), "weight_norm": optax.global_norm(state.params)}
    return new_state, metrics


def state_index(mdp: TabularMDP, obs: jax.Array) -> jax.Array:
    """The state whose observation row is nearest ``obs`` (exact for one-hot or xy observations)."""
    dist = jnp.sum(jnp.square(obs[..., None, :] - mdp.observation.astype(obs.dtype)), axis=-1)
    return jnp.argmin(dist, axis=-1)


def policy(state: State, obs: jax.Array, t: int | jax.Array = 0) -> Categorical:
    """π(·|s) at step ``t`` of an episode (the soft-optimal policy is time-varying), for the
    state whose observation is ``obs`` (any leading batch shape)."""
    pi = soft_optimal_policy(state)
    return Categorical(probs=pi[t, state_index(state.mdp, obs)])


def learned_reward(state: State):
    """r(obs, action, next_obs, terminated) = r_θ(obs): the learned state reward."""
    params, net = state.params, state.net
    return lambda obs, action, next_obs, terminated: net.apply(params, obs)


# --------------------------------------------------------------------------------------
# Demonstrations: the expert's occupancy D_E from trajectories, transitions or a vector.


def occupancy_from_trajectories(states: jax.Array, num_states: int, discount: float = 1.0) -> jax.Array:
    """D_E = (1/N) Σ_n Σ_{t=0}^{H} γ^t onehot(s_t^n) from ``states[N, H+1]`` (each trajectory's
    states, the one after the last action included)."""
    states = jnp.asarray(states)
    if states.ndim != 2 or not jnp.issubdtype(states.dtype, jnp.integer):
        raise JaxilError(f"trajectories must be state indices [N, H+1] (ints), got {states.dtype} {states.shape}.")
    check_indices(states, num_states)
    weights = jnp.power(discount, jnp.arange(states.shape[1], dtype=jnp.float32))
    return jnp.einsum("t,nts->s", weights, jax.nn.one_hot(states, num_states)) / states.shape[0]


def occupancy_from_transitions(mdp: TabularMDP, transitions: Transition) -> jax.Array:
    """D_E from undiscounted transitions (e.g. ``rollout`` of a :class:`TabularEnv`): counts of
    each row's state, plus the successor of each row that ends an episode, rescaled to sum to
    H + 1 (imitation's rule; a discount needs whole trajectories)."""
    s = state_index(mdp, transitions.obs)
    done = transitions.terminated | transitions.truncated
    check_observations(mdp, transitions.obs)
    counts = jnp.sum(jax.nn.one_hot(s, mdp.num_states), axis=0)
    ends = jnp.sum(jax.nn.one_hot(state_index(mdp, transitions.next_obs), mdp.num_states) * done[:, None], axis=0)
    counts = counts + ends
    return counts * (mdp.horizon + 1) / jnp.sum(counts)


def check_indices(states, num_states: int) -> None:
    s = np.asarray(states)
    if s.size and (s.min() < 0 or s.max() >= num_states):
        raise JaxilError(f"demonstrations hold state indices in [{s.min()}, {s.max()}], outside 0..{num_states - 1}; "
                         "they are not of this MDP.")


def check_observations(mdp: TabularMDP, obs) -> None:
    """Every observation must be one of the MDP's observation rows."""
    o = np.asarray(obs, np.float64)
    rows = np.asarray(mdp.observation, np.float64)
    gap = np.min(np.sum((o[:, None, :] - rows[None]) ** 2, axis=-1), axis=1) if len(o) else np.zeros(0)
    if gap.size and gap.max() > 1e-8:
        raise JaxilError(f"{int(np.sum(gap > 1e-8))} demonstration observations match no state of this MDP (the "
                         "nearest is off by {:.3g}); pass transitions recorded in this MDP.".format(gap.max() ** 0.5))


def check_demo_occupancy(mdp: TabularMDP, demo: jax.Array, discount) -> None:
    """D_E must be [S], finite, non-negative and have the total every policy's occupancy has."""
    chex.assert_shape(demo, (mdp.num_states,))
    d = np.asarray(demo, np.float64)
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise JaxilError("the demonstrations' occupancy must be finite and non-negative.")
    g = configs.known_values(discount)
    if g is None or g.size != 1:
        return
    g, h = float(g), mdp.horizon
    total = h + 1 if g == 1 else (1 - g ** (h + 1)) / (1 - g)
    if abs(d.sum() - total) > 1e-3 * total:
        raise JaxilError(f"the demonstrations' occupancy sums to {d.sum():.6g}, but any policy's sums to {total:.6g} "
                         f"(horizon {h}, gamma {g}); compute it with the same horizon and discount.")


# --------------------------------------------------------------------------------------
# The loop: iterations in chunks, each ending with the exact return of the learned policy.


def evaluate(state: State, reference: Reference | None) -> dict[str, jax.Array]:
    """The exact expected (undiscounted, true-reward) return of the soft-optimal policy for
    the learned reward: no sampling noise, so curves and seeds compare exactly."""
    ret = tabular.expected_return(state.mdp, soft_optimal_policy(state)).astype(jnp.float32)
    out = {"eval_return": ret}
    if reference is not None:
        out["normalized_score"] = normalized_score(ret, *reference)
    return out


def exact_reference(mdp: TabularMDP, demonstrator: jax.Array) -> Reference:
    """Reference returns computed exactly: the uniform random policy's and the demonstrator's."""
    return Reference(float(tabular.expected_return(mdp, tabular.uniform_policy(mdp))),
                     float(tabular.expected_return(mdp, demonstrator)))


def make_train(config: Config, mdp: TabularMDP, demo_occupancy: jax.Array, reference: Reference | None = None,
               name: str = "tabular") -> Train:
    """``train(key) -> (state, metrics)``: up to ``config.steps`` MCE IRL iterations against
    the demonstrations' occupancy, evaluated exactly every ``config.eval_every``."""
    configs.check_type(config, Config, "mce_irl.make_train")
    check_mdp(mdp)
    demo_occupancy = jnp.asarray(demo_occupancy)
    try:
        check_demo_occupancy(mdp, demo_occupancy, config.gamma)
    except jax.errors.TracerArrayConversionError:  # traced (a vmap over MDPs): checked where concrete
        pass
    spec = TabularEnv(mdp, name).spec
    num_chunks, per_chunk = chunking(config.steps, config.eval_every)
    return Train(
        init=lambda key: init(key, config, spec, mdp),
        step=lambda state: update(state, demo_occupancy),
        evaluate=lambda state, key: evaluate(state, reference),
        num_chunks=num_chunks,
        steps_per_chunk=per_chunk,
    )
