"""Preference feedback: the Bradley–Terry preference model and its loss, synthetic teachers
(imitation's ``SyntheticGatherer`` and B-Pref's imperfect ones), and query schedules.

Bradley–Terry: fragment a is preferred to b with probability

    P(a ≻ b) = ε/2 + (1 − ε) · σ(clip(R_a − R_b, ±c) / β),   R = Σ_t γ^t r_t,

for a reward model's returns (β = 1) or a teacher's true returns (β its temperature, ε its
mistake rate). The reward model learns by the cross-entropy of the teacher's labels y:

    L = −E[y log P(a ≻ b) + (1 − y) log P(b ≻ a)]   over the valid (not skipped) pairs.

B-Pref's teachers (Lee et al. 2021) are one :class:`Teacher` with its knobs: ``temperature``
(0: the "oracle", labels by the larger return; > 0: Bradley–Terry samples, "noisy"),
``mistake`` (flip the label), ``skip_below`` (skip the query when neither fragment's return
reaches it), ``equal_within`` (label 0.5 when the returns are that close), ``myopic``
(weight step t of L by γ^(L−1−t), recent steps most).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data.fragments import discounted_returns
from jaxil.errors import JaxilError

SCHEDULES = ("constant", "hyperbolic", "inverse_quadratic")


def preference_probability(return_a: jax.Array, return_b: jax.Array, temperature: float | jax.Array = 1.0,
                           noise: float | jax.Array = 0.0, clip: float = 50.0) -> jax.Array:
    """P(a ≻ b) = ε/2 + (1 − ε) σ(clip(R_a − R_b, ±c) / β)."""
    diff = jnp.clip(return_a - return_b, -clip, clip)
    return noise / 2 + (1 - noise) * jax.nn.sigmoid(diff / temperature)


def preference_loss(return_a: jax.Array, return_b: jax.Array, label: jax.Array, valid: jax.Array,
                    noise: float | jax.Array = 0.0, clip: float = 50.0) -> jax.Array:
    """Cross-entropy of the labels under Bradley–Terry on the model's returns, averaged over
    the valid pairs: −mean_valid[y log P + (1 − y) log(1 − P)]."""
    p = preference_probability(return_a, return_b, 1.0, noise, clip)
    log_p, log_q = jnp.log(jnp.clip(p, 1e-7, 1.0)), jnp.log(jnp.clip(1 - p, 1e-7, 1.0))
    ce = -(label * log_p + (1 - label) * log_q)
    w = valid.astype(ce.dtype)
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)


@struct.dataclass
class Teacher(configs.Config):
    """A synthetic teacher from the true reward. Defaults: imitation's ``SyntheticGatherer``
    (temperature 1, undiscounted, sampled labels, differences clipped at 50)."""

    temperature: float = 1.0
    """β of Bradley–Terry on the true returns; 0 labels by the larger return (ties 0.5)."""
    discount: float = 1.0
    """γ of the returns the teacher compares (1: plain sums)."""
    myopic: bool = static(False)
    """weight step t of a fragment of L steps by γ^(L−1−t) (recent steps most) instead of γ^t."""
    mistake: float = 0.0
    """probability of flipping the label."""
    skip_below: float = static(-np.inf)
    """skip the query (no label) when neither fragment's return reaches this (static: its
    default −∞ must not read as a diverged value among the state's arrays)."""
    equal_within: float = 0.0
    """label 0.5 ("equal") when the returns differ by less than this."""
    sample_labels: bool = static(True)
    """draw hard labels from the preference probability (False: the probability itself, a soft label)."""
    label_clip: float = static(50.0)
    """clip of the return difference."""

    def returns(self, reward: jax.Array) -> jax.Array:
        """The teacher's return of each fragment (..., L) -> (...)."""
        if self.myopic:
            return discounted_returns(reward[..., ::-1], self.discount)
        return discounted_returns(reward, self.discount)


def teach(key: jax.Array, teacher: Teacher, reward_a: jax.Array, reward_b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(label, valid) of each pair from its fragments' true rewards (B, L): label = P(a ≻ b)
    as the teacher answers it (1, 0, 0.5, or soft), valid = not skipped."""
    k_label, k_mistake = jax.random.split(key)
    ra, rb = teacher.returns(reward_a), teacher.returns(reward_b)
    diff = jnp.clip(ra - rb, -teacher.label_clip, teacher.label_clip)
    hard = jnp.where(diff > 0, 1.0, jnp.where(diff < 0, 0.0, 0.5))
    temperature = jnp.asarray(teacher.temperature, diff.dtype)
    p = jnp.where(temperature > 0, jax.nn.sigmoid(diff / jnp.where(temperature > 0, temperature, 1.0)), hard)
    label = jax.random.bernoulli(k_label, p).astype(diff.dtype) if teacher.sample_labels else p
    label = jnp.where((temperature > 0) | ~teacher.sample_labels, label, hard)  # the oracle's ties stay 0.5
    flip = jax.random.bernoulli(k_mistake, jnp.broadcast_to(jnp.asarray(teacher.mistake, diff.dtype), diff.shape))
    label = jnp.where(flip, 1.0 - label, label)
    label = jnp.where(jnp.abs(ra - rb) < teacher.equal_within, 0.5, label)
    valid = jnp.maximum(ra, rb) >= teacher.skip_below
    return label, valid


def query_schedule(name: str, total: int, iterations: int, initial_fraction: float) -> np.ndarray:
    """Comparisons per round, as imitation schedules them: ``initial_fraction`` of ``total``
    before any training (round 0), the rest over ``iterations`` rounds in proportion to
    s(x) at x = 0 … 1 evenly spaced (constant 1, hyperbolic 1/(1 + x), inverse quadratic
    1/(1 + x²)), rounded to whole numbers that still sum to ``total``."""
    if name not in SCHEDULES:
        raise JaxilError(f"query schedule must be one of {SCHEDULES}, got {name!r}.")
    if not 0 <= initial_fraction <= 1:
        raise JaxilError(f"initial_fraction must be in [0, 1], got {initial_fraction}.")
    initial = int(total * initial_fraction)
    x = np.linspace(0.0, 1.0, iterations)
    s = {"constant": np.ones_like(x), "hyperbolic": 1 / (1 + x), "inverse_quadratic": 1 / (1 + x**2)}[name]
    shares = s / s.sum() * (total - initial)
    whole = np.floor(shares).astype(int)
    # the largest remainders take the comparisons the floors left over (the rounding keeps the total)
    whole[np.argsort(-(shares - whole), kind="stable")[: (total - initial) - whole.sum()]] += 1
    return np.concatenate([[initial], whole])
