#!/usr/bin/env bash
# Offline validation tools for deploy/ and policies/, built from the Go module proxy into
# .tools/bin (git-ignored): kustomize, opa. (decK is not served by the module proxy; the Kong
# config is checked against our own schema in tests/unit/deploy.) checkov gets its own venv (.tools/checkov)
# because it pins many packages. Idempotent: a tool already at the wanted version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"
export GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0

KUSTOMIZE_VERSION=v5.5.0
OPA_VERSION=v1.22.3
CHECKOV_VERSION=3.3.30

build() {  # build <binary> <stamp> <module@version>
  local bin=$1 stamp=$2 mod=$3
  if [ -x "$TOOLS/bin/$bin" ] && [ "$(cat "$TOOLS/bin/.$bin.version" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "building $bin ($mod)"
  go install "$mod"
  echo "$stamp" > "$TOOLS/bin/.$bin.version"
}

# CI runs with a trimmed environment: find the machine's Go even when it is not on PATH.
[ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "install-deploy-tools: Go is required (apt-get install golang or /usr/local/go)" >&2
  exit 1
fi
build kustomize "$KUSTOMIZE_VERSION" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
build opa "$OPA_VERSION" "github.com/open-policy-agent/opa@$OPA_VERSION"

if [ "$("$TOOLS/checkov/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  echo "installing checkov $CHECKOV_VERSION into $TOOLS/checkov"
  python3 -m venv "$TOOLS/checkov"
  "$TOOLS/checkov/bin/pip" install --quiet --upgrade pip
  "$TOOLS/checkov/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
fi
