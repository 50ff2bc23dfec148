#!/usr/bin/env bash
# quickstart.sh -- install what is missing, build the release tool at
# build/agentsim, and run the main job: a seed sweep of the bundled scenarios
# on the defaults (sim world, simulated SQLite disk). Extra arguments go to
# the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
echo "quickstart: built build/agentsim; running the main job"
exec build/agentsim sweep fixtures/scenarios/*.scn --seeds 1000 "$@"
