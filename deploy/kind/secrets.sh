#!/usr/bin/env bash
# Create the Secrets CloudMart reads, with fresh random values, unless they exist: nothing
# secret is in git. Needs kubectl (pointed at the cluster) and openssl.
set -euo pipefail
ns=cloudmart
have() { kubectl get secret "$1" -n "$2" >/dev/null 2>&1; }
rand() { openssl rand -hex 24; }

if ! have cloudmart-db $ns; then
  pw=$(rand)
  kubectl create secret generic cloudmart-db -n $ns \
    --from-literal=POSTGRES_PASSWORD="$pw" \
    --from-literal=DATABASE_URL="postgresql://cloudmart:$pw@postgres-service:5432/cloudmart"
  # the prod overlay's CloudNativePG cluster takes the same credentials as basic-auth
  kubectl create secret generic cloudmart-db-app -n $ns --type=kubernetes.io/basic-auth \
    --from-literal=username=cloudmart --from-literal=password="$pw"
fi
if ! have cloudmart-redis $ns; then
  pw=$(rand)
  kubectl create secret generic cloudmart-redis -n $ns \
    --from-literal=REDIS_PASSWORD="$pw" \
    --from-literal=REDIS_URL="redis://:$pw@redis-service:6379/0"
fi
if ! have cloudmart-jwt $ns; then
  dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
  kid="k8s-$(date -u +%Y%m%d%H%M%S)"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/$kid.pem" 2>/dev/null
  openssl pkey -in "$dir/$kid.pem" -pubout -out "$dir/public.pem"
  printf '%s' "$kid" > "$dir/active"
  # user-service signs with <kid>.pem (JWT_KEYS_DIR); Kong verifies with the public key
  kubectl create secret generic cloudmart-jwt -n $ns --from-file="$kid.pem=$dir/$kid.pem" --from-file=active="$dir/active"
  kubectl create secret generic cloudmart-jwt-public -n $ns --from-file=public.pem="$dir/public.pem"
fi
if ! have kubecost-grafana kubecost; then
  kubectl create secret generic kubecost-grafana -n kubecost --from-literal=admin-password="$(rand)"
fi
