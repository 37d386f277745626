#!/bin/sh
# render.sh TEMPLATE PUBLIC_KEY_PEM OUTPUT: put the PEM, indented like the placeholder line,
# where __CLOUDMART_JWT_PUBLIC_KEY__ stands. Runs in Kong's init container and in CI.
set -eu
template=$1 pem=$2 out=$3
[ -s "$pem" ] || { echo "render.sh: public key $pem is missing or empty" >&2; exit 1; }
grep -q 'BEGIN PUBLIC KEY' "$pem" || { echo "render.sh: $pem is not a PEM public key" >&2; exit 1; }
awk -v pem="$pem" '
  /__CLOUDMART_JWT_PUBLIC_KEY__/ {
    indent = $0; sub(/[^ ].*$/, "", indent)
    while ((getline line < pem) > 0) print indent line
    close(pem); next
  }
  { print }
' "$template" > "$out"
