# CloudMart — `make up` runs it, `make test` tests it. Everything else is a helper of those two.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test venv servers lint bench clean

up: venv  # options: make up ARGS="--port 9000 --data-dir /tmp/cm"
	$(BIN)/cloudmart up $(ARGS)

test:
	bash scripts/test.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/venv.sh
	@touch $@

servers:
	bash scripts/install-servers.sh

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# ---- Kubernetes (kind). Needs docker, kind, kubectl (its built-in kustomize) and istioctl; not run in CI. ----
CLUSTER ?= lab-cluster
OVERLAY ?= lab
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= cloudmart:$(VERSION)
KUSTOMIZE_BUILD ?= kubectl kustomize
ISTIO_VERSION ?= 1.23.2
GATEKEEPER_VERSION ?= v3.17.1
VPA_VERSION ?= 1.2.1
CNPG_VERSION ?= 1.24.1
ARGOCD_VERSION ?= v2.12.6
GK_TEMPLATES = $(wildcard deploy/components/gatekeeper/template-*.yaml) \
  $(if $(filter prod,$(OVERLAY)),$(wildcard deploy/components/gatekeeper-prod/template-*.yaml))

.PHONY: image kind-up kind-load kind-install kind-argocd kind-verify kind-down

image:
	docker build -t $(IMAGE) .

kind-up:
	kind get clusters | grep -qx $(CLUSTER) || kind create cluster --config deploy/kind/lab-cluster.yaml --wait 120s
	kubectl config use-context kind-$(CLUSTER)
	kubectl wait --for=condition=Ready nodes --all --timeout=180s

kind-load: image
	kind load docker-image $(IMAGE) --name $(CLUSTER)

# Dependency order: mesh, admission controller and CRDs first, then secrets, then the overlay.
kind-install:
	istioctl install -y --set profile=minimal --set values.pilot.env.PILOT_JWT_ENABLE_REMOTE_JWKS=envoy
	kubectl apply -f https://raw.githubusercontent.com/open-policy-agent/gatekeeper/$(GATEKEEPER_VERSION)/deploy/gatekeeper.yaml
	# VPA: CRDs and the recommender only (our VPAs are updateMode "Off": recommendations, no evictions)
	for f in vpa-v1-crd-gen.yaml vpa-rbac.yaml recommender-deployment.yaml; do \
	  kubectl apply -f https://raw.githubusercontent.com/kubernetes/autoscaler/vertical-pod-autoscaler-$(VPA_VERSION)/vertical-pod-autoscaler/deploy/$$f; done
	if [ "$(OVERLAY)" = prod ]; then \
	  kubectl apply --server-side -f https://github.com/cloudnative-pg/cloudnative-pg/releases/download/v$(CNPG_VERSION)/cnpg-$(CNPG_VERSION).yaml && \
	  kubectl -n cnpg-system rollout status deployment/cnpg-controller-manager --timeout=300s; fi
	kubectl -n gatekeeper-system rollout status deployment/gatekeeper-controller-manager --timeout=300s
	kubectl -n istio-system rollout status deployment/istiod --timeout=300s
	kubectl apply -f deploy/base/namespace.yaml -f deploy/components/cost-analyzer/namespace.yaml
	bash deploy/kind/secrets.sh
	for f in $(GK_TEMPLATES); do kubectl apply -f $$f; done
	for f in $(GK_TEMPLATES); do t=$$(basename $$f .yaml); t=$${t#template-}; \
	  until kubectl get crd $$t.constraints.gatekeeper.sh >/dev/null 2>&1; do sleep 2; done; \
	  kubectl wait --for=condition=established crd/$$t.constraints.gatekeeper.sh --timeout=120s; done
	$(KUSTOMIZE_BUILD) deploy/overlays/$(OVERLAY) | kubectl apply --server-side --force-conflicts -f -
	if [ "$(OVERLAY)" != prod ]; then kubectl -n kube-system rollout status deployment/metrics-server --timeout=300s; fi
	kubectl -n cloudmart rollout status statefulset/kafka --timeout=600s
	kubectl -n cloudmart wait --for=condition=Available deployment --all --timeout=600s
	kubectl -n kubecost wait --for=condition=Available deployment --all --timeout=300s

kind-argocd:
	kubectl create namespace argocd --dry-run=client -o yaml | kubectl apply -f -
	kubectl apply -n argocd -f https://raw.githubusercontent.com/argoproj/argo-cd/$(ARGOCD_VERSION)/manifests/install.yaml
	kubectl apply -f deploy/argocd/project.yaml -f deploy/argocd/cloudmart-$(OVERLAY).yaml

kind-verify: venv
	kubectl port-forward -n kubecost svc/kubecost-cost-analyzer 9090:9090 >/dev/null 2>&1 & pf=$$!; \
	sleep 3; $(BIN)/cloudmart verify; rc=$$?; kill $$pf; exit $$rc

kind-down:
	kind delete cluster --name $(CLUSTER)
