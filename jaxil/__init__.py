"""jaxil: imitation learning and inverse reinforcement learning in JAX.

Every algorithm is a set of pure functions over pytrees (``Config``, ``init``,
``update``, ``make_train``, ``policy``); ``make_train(...)`` returns ``train(key)``,
which runs the whole loop in one ``jax.jit`` and is vmapped over seeds.
"""

import contextlib
import importlib.abc
import importlib.machinery
import io
import sys

from jaxil.errors import JaxilError

__version__ = "0.1.0"
__all__ = ["JaxilError", "__version__"]


class _QuietImport(importlib.abc.MetaPathFinder):
    """Runs the named modules' import with stdout discarded. ``mujoco.mjx.warp`` (imported
    by Brax) prints "Failed to import warp" to stdout when its optional GPU backend is
    absent, and jaxil's stdout carries the run's JSON summary."""

    NAMES = ("mujoco.mjx.warp",)

    def find_spec(self, name, path, target=None):
        if name not in self.NAMES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                with contextlib.redirect_stdout(io.StringIO()):
                    run(module)

            spec.loader.exec_module = exec_module
        return spec


if not any(isinstance(f, _QuietImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietImport())
