"""Networks (flax linen): MLPs, actors, critics, reward models."""

from jaxil.nets.actors import (
    Categorical,
    CategoricalActor,
    TanhGaussian,
    TanhGaussianActor,
    make_actor,
)
from jaxil.nets.critics import QEnsemble, ValueNet
from jaxil.nets.mlp import MLP, activation
from jaxil.nets.rewards import RewardModel, absorbing_input, action_features

__all__ = [
    "MLP",
    "Categorical",
    "CategoricalActor",
    "QEnsemble",
    "RewardModel",
    "action_features",
    "TanhGaussian",
    "TanhGaussianActor",
    "ValueNet",
    "absorbing_input",
    "activation",
    "make_actor",
]
