#!/usr/bin/env bash
# The README's test command: sets everything up on a fresh machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-servers.sh
bash scripts/venv.sh
for s in scripts/install-*.sh; do
  [ "$s" = scripts/install-servers.sh ] && continue
  bash "$s"
done
set +e
.venv/bin/python -m pytest -p no:cacheprovider -q "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi
exit $rc
