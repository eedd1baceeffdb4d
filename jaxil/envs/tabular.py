"""Tabular MDPs: finite states and actions, known dynamics, a fixed horizon.

A :class:`TabularMDP` holds the whole model as arrays, so exact solvers
(``jaxil.rl.tabular``) give ground truth (optimal values, occupancy measures, expected
returns) to check any learner against. The conventions are imitation's (seals'
``TabularModelPOMDP``): the reward is paid for the state an action is taken in,
R[s] (or R[s, a]); an episode is exactly ``horizon`` actions long, with no terminal
states; the agent sees ``observation[s]``, not s.

:class:`TabularEnv` runs an MDP behind jaxil's env API, so rollouts, evaluation and the
other algorithms (BC, GAIL, ...) work on it unchanged: the episode ends by truncation
after ``horizon`` steps.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil.envs.core import EnvSpec, Step
from jaxil.errors import JaxilError

PROBABILITY_TOL = 1e-5  # how far from 1 a row of probabilities may sum (float32 data)


@struct.dataclass
class TabularMDP:
    """transition[S, A, S'] = P(s'|s, a); observation[S, D]; reward[S] or [S, A];
    initial[S] = P(s_0); ``horizon`` actions per episode (static: it fixes shapes).
    Build with :func:`tabular_mdp`, which checks the arrays."""

    transition: jax.Array
    observation: jax.Array
    reward: jax.Array
    initial: jax.Array
    horizon: int = struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return self.transition.shape[0]

    @property
    def num_actions(self) -> int:
        return self.transition.shape[1]

    def state_action_reward(self, reward: jax.Array | None = None) -> jax.Array:
        """R[s, a]: ``reward`` (default the MDP's own), a state reward broadcast over actions."""
        r = self.reward if reward is None else reward
        return r if r.ndim == 2 else jnp.broadcast_to(r[:, None], (self.num_states, self.num_actions))


def _concrete(x) -> np.ndarray | None:
    """``x`` as a host array, or None while it is being traced (checks then wait for the host)."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_mdp(mdp: TabularMDP) -> None:
    """Clear errors for arrays that do not make an MDP (skipped for traced arrays)."""
    if mdp.horizon is None or not isinstance(mdp.horizon, (int, np.integer)) or isinstance(mdp.horizon, bool) \
            or mdp.horizon < 1:
        raise JaxilError(f"a tabular MDP needs a finite horizon, a whole number ≥ 1, got {mdp.horizon!r}; only "
                         "finite-horizon problems are supported (pass horizon=H).")
    if mdp.transition.ndim != 3 or mdp.transition.shape[0] != mdp.transition.shape[2]:
        raise JaxilError(f"transition must be [S, A, S], got shape {mdp.transition.shape}.")
    s, a = mdp.transition.shape[:2]
    if mdp.observation.ndim != 2 or mdp.observation.shape[0] != s:
        raise JaxilError(f"observation must be [S, D] with one row per state (S = {s}), got shape "
                         f"{mdp.observation.shape}.")
    if mdp.reward.shape not in ((s,), (s, a)):
        raise JaxilError(f"reward must be [S] or [S, A] = [{s}] or [{s}, {a}], got shape {mdp.reward.shape}.")
    if mdp.initial.shape != (s,):
        raise JaxilError(f"initial must be [S] = [{s}], got shape {mdp.initial.shape}.")
    for name in ("transition", "observation", "reward", "initial"):
        x = _concrete(getattr(mdp, name))
        if x is not None and not np.all(np.isfinite(x)):
            raise JaxilError(f"{name} holds NaN or infinite values; fix the MDP's arrays.")
    for name, x in (("transition", _concrete(mdp.transition)), ("initial", _concrete(mdp.initial))):
        if x is None:
            continue
        if np.any(x < 0):
            raise JaxilError(f"{name} holds negative probabilities (min {x.min():.3g}); probabilities are ≥ 0.")
        sums = x.sum(-1)
        worst = np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape) if sums.ndim else ()
        if np.max(np.abs(sums - 1)) > PROBABILITY_TOL:
            where = f" at (s, a) = {tuple(int(i) for i in worst)}" if name == "transition" else ""
            raise JaxilError(f"{name}'s probabilities must sum to 1 (within {PROBABILITY_TOL}); they sum to "
                             f"{float(sums[worst]):.6g}{where}. Normalise the rows.")


def tabular_mdp(transition, observation, reward, initial, horizon: int) -> TabularMDP:
    """A checked :class:`TabularMDP` from raw arrays (float32 unless given float64)."""
    def as_float(x):
        x = jnp.asarray(x)
        return x.astype(jnp.result_type(float, x.dtype))

    mdp = TabularMDP(as_float(transition), as_float(observation), as_float(reward), as_float(initial), horizon)
    check_mdp(mdp)
    return mdp


@functools.partial(jax.jit, static_argnames=("num_states", "num_actions", "branch_factor", "horizon", "random_obs",
                                             "obs_dim"))
def random_mdp(key: jax.Array, num_states: int, num_actions: int, branch_factor: int, horizon: int,
               random_obs: bool = False, obs_dim: int | None = None) -> TabularMDP:
    """A random MDP as seals' ``RandomTransitionEnv`` draws one: each (s, a) moves to
    ``branch_factor`` distinct random successors with Dirichlet(1) probabilities; the start
    is spread the same way over ``branch_factor`` states; observations are one-hot (or
    N(0, 1) of ``obs_dim`` with ``random_obs``); reward = observation · w, w ~ N(0, 1).
    Same key, same MDP; jit- and vmap-able over keys (a batch of MDPs)."""
    if not 1 <= branch_factor <= num_states:
        raise JaxilError(f"branch_factor must be in 1..num_states ({num_states}), got {branch_factor}.")
    k_succ, k_prob, k_init, k_init_p, k_obs, k_w = jax.random.split(key, 6)

    def spread(k_which, k_p, shape):
        """Probabilities over ``branch_factor`` distinct states drawn uniformly, per row."""
        noise = jax.random.uniform(k_which, shape + (num_states,))
        chosen = jnp.argsort(noise, axis=-1)[..., :branch_factor]
        p = jax.random.dirichlet(k_p, jnp.ones(branch_factor), shape)
        rows = jnp.zeros(shape + (num_states,))
        return jnp.put_along_axis(rows, chosen, p, axis=-1, inplace=False)

    transition = spread(k_succ, k_prob, (num_states, num_actions))
    initial = spread(k_init, k_init_p, ())
    if random_obs:
        if obs_dim is None:
            raise JaxilError("random_obs needs obs_dim, the length of each observation.")
        observation = jax.random.normal(k_obs, (num_states, obs_dim))
    else:
        observation = jnp.eye(num_states)
    reward = observation @ jax.random.normal(k_w, (observation.shape[1],))
    return TabularMDP(transition, observation, reward, initial, horizon)


def cliffworld(height: int = 4, width: int = 7, horizon: int = 8, xy_obs: bool = True, reward_default: float = -1.0,
               reward_goal: float = 10.0, reward_cliff: float = -10.0, fail_p: float = 0.3) -> TabularMDP:
    """The windy CliffWorld of imitation's MCE IRL tutorial (seals' ``CliffWorldEnv``).

    State id = row · width + col, row 0 on top. Start at (0, 0); the goal at
    (0, width − 1) pays ``reward_goal``; the cells between them are the cliff
    (``reward_cliff``); every other cell pays ``reward_default``. The four actions move
    diagonally, (drow, dcol) ∈ {±1}² with id (drow + 1) + (dcol + 1) // 2; with
    probability ``fail_p`` the wind pushes the agent one row further up (towards the
    cliff). Moves are clamped to the grid; episodes last ``horizon`` steps. Observations
    are (col / (width − 1), row / (height − 1)), or one-hot with ``xy_obs=False``.
    """
    if height < 2 or width < 3:
        raise JaxilError(f"cliffworld needs height ≥ 2 and width ≥ 3, got {height} × {width}.")
    n = height * width
    cell = lambda row, col: min(max(row, 0), height - 1) * width + min(max(col, 0), width - 1)  # noqa: E731
    transition = np.zeros((n, 4, n))
    reward = np.full(n, reward_default)
    reward[1:width - 1] = reward_cliff
    reward[width - 1] = reward_goal
    observation = np.zeros((n, 2)) if xy_obs else np.eye(n)
    for row in range(height):
        for col in range(width):
            s = cell(row, col)
            if xy_obs:
                observation[s] = (col / (width - 1), row / (height - 1))
            for drow in (-1, 1):
                for dcol in (-1, 1):
                    a = (drow + 1) + (dcol + 1) // 2
                    transition[s, a, cell(row + drow, col + dcol)] += 1.0 - fail_p
                    transition[s, a, cell(row + drow - 1, col + dcol)] += fail_p
    initial = np.zeros(n)
    initial[0] = 1.0
    return tabular_mdp(transition, observation, reward, initial, horizon)


# The tabular envs registered under names (``jaxil train mce-irl --env cliffworld``).
NAMED = {
    "cliffworld": lambda: cliffworld(),  # the tutorial's 4 × 7 grid, horizon 8, xy observations
    # seals' Random-v0: 16 states, 3 actions, 2 successors, horizon 20, 5-d random observations
    "random-mdp": lambda: random_mdp(jax.random.PRNGKey(42), 16, 3, 2, 20, random_obs=True, obs_dim=5),
}


def named_mdp(name: str) -> TabularMDP:
    if name not in NAMED:
        raise JaxilError(f"unknown tabular env {name!r}; choose one of: {', '.join(NAMED)}.")
    mdp = NAMED[name]()
    check_mdp(mdp)
    return mdp


@struct.dataclass
class TabularState:
    state: jax.Array  # the MDP's state index
    t: jax.Array  # actions taken in this episode


class TabularEnv:
    """A tabular MDP behind jaxil's env API: observations are ``observation[s]``, the
    reward is R[s] (or R[s, a]) of the state acted in, and the episode is truncated after
    ``horizon`` steps (never terminated). ``state_index`` gives the hidden state."""

    def __init__(self, mdp: TabularMDP, name: str = "tabular"):
        check_mdp(mdp)
        self.mdp = mdp
        self.spec = EnvSpec(
            name=name, source=f"tabular:{name}", backend="tabular", obs_dim=int(mdp.observation.shape[1]),
            action_dim=1, num_actions=mdp.num_actions, action_low=(), action_high=(),
            max_episode_steps=mdp.horizon,
        )

    def render(self, obs: jax.Array, action: jax.Array | None = None):
        raise JaxilError(f"{self.spec.name} is a tabular MDP and has no picture (observations are state features); "
                         "export its fragments without render=.")

    def _fresh(self, key: jax.Array) -> TabularState:
        s0 = jax.random.categorical(key, jnp.log(self.mdp.initial))
        return TabularState(s0.astype(jnp.int32), jnp.zeros((), jnp.int32))

    def _obs(self, s: jax.Array) -> jax.Array:
        return self.mdp.observation[s].astype(jnp.float32)

    def reset(self, key: jax.Array) -> tuple[TabularState, jax.Array]:
        state = self._fresh(key)
        return state, self._obs(state.state)

    def step(self, key: jax.Array, state: TabularState, action: jax.Array) -> tuple[TabularState, Step]:
        move_key, reset_key = jax.random.split(key)
        s = state.state
        s_next = jax.random.categorical(move_key, jnp.log(self.mdp.transition[s, action])).astype(jnp.int32)
        reward = self.mdp.state_action_reward()[s, action]
        t = state.t + 1
        truncated = t >= self.mdp.horizon
        fresh = self._fresh(reset_key)
        after = TabularState(jnp.where(truncated, fresh.state, s_next), jnp.where(truncated, 0, t))
        return after, Step(
            obs=self._obs(after.state), reward=reward.astype(jnp.float32), terminated=jnp.zeros((), bool),
            truncated=truncated, next_obs=self._obs(s_next),
        )
