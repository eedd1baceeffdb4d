#!/usr/bin/env bash
# Wheels of jaxil's pinned dependencies other than jax, for a lent accelerator machine that
# has its own jax (and CUDA, numpy, scipy, h5py, pandas, matplotlib, tensorstore...) but no
# package registry. Run here, in the repository root; the wheels land in .whl/ (ignore it:
# `echo /.whl/ >> .git/info/exclude`). Usage: bash experiments/bench/device_wheels.sh [PYTHON_VERSION]
#
# On the machine, first in the command (carry .whl):
#   python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site:$PWD || exit
#   python3 experiments/bench/device_check.py --out-dir "$OUT"
# Used on 2026-11-30 with an H200's jax 0.11.2 (CUDA 13) and Python 3.12: 34 MB of wheels.
# The tracked tree plus the wheels must fit the transfer limit; that day the shipped data of
# envs other than hopper was moved aside during the call.
set -euo pipefail
py=${1:-3.12}
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl \
  flax==0.12.8 optax==0.2.8 chex==0.1.92 distrax==0.1.9 tfp-nightly==0.26.0.dev20261027 \
  brax==0.14.2 mujoco==4.0.0 mujoco-core==4.0.0 mujoco-mjx==3.17.0 gymnax==1.0.1 \
  gymnasium==1.3.0 Farama-Notifications==0.0.6 minari==0.5.4 orbax-checkpoint==0.12.8 \
  tyro==1.0.17 docstring_parser==0.18.0 typeguard==4.6.1 tensorboardX==2.6.5 dm-tree==0.1.10 \
  gast==0.7.0 decorator==5.3.1 jaxopt==0.8.5 ml_collections==1.1.0 trimesh==5.2.0 \
  nest-asyncio2==1.7.4 glfw==2.11.0 PyOpenGL==3.1.10 etils==1.15.0 absl-py==2.5.1 \
  humanize==4.17.0 simplejson==4.3.0 aiofiles==25.1.0 typing_extensions==4.16.0 \
  treescope==0.1.10 toolz==1.2.0
du -sh .whl
