#!/usr/bin/env bash
# Fit and export the dynamics models jaxil ships (jaxil/data/models/<env>/: model.msgpack
# and its card model.json): CleanIL's pretraining (7 members of 3×200 SiLU, 5 elites, up to
# 500 epochs with hold-out early stopping) on each env's medium-replay data plus its first
# 10 expert episodes, seed 0. About 5-20 min per env on 2 CPU cores.
#
#     bash experiments/ship_models.sh [WORK_DIR] [ENV ...]
set -euo pipefail
work=${1:-runs/ship-models}
shift || true
envs=("$@")
[ ${#envs[@]} -eq 0 ] && envs=(hopper walker2d halfcheetah ant)
root=$(python -c "import jaxil.models as m; print(m.SHIPPED)")
for env in "${envs[@]}"; do
  jaxil train dynamics --env "$env" --out "$work/$env" --no-progress
  jaxil export-model "$work/$env" --out "$root/$env"
done
