"""jaxil: imitation learning and inverse reinforcement learning in JAX.

Every algorithm is a set of pure functions over pytrees (``Config``, ``init``,
``update``, ``make_train``); ``make_train(...)`` returns ``train(key)``, which runs
the whole loop in one ``jax.jit`` and is vmapped over seeds.
"""

from jaxil.errors import JaxilError

__version__ = "0.1.0"
__all__ = ["JaxilError", "__version__"]
