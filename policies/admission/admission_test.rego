package admission_test

import rego.v1

import data.k8scontainerresources
import data.k8sdisallowedtags
import data.k8shardenedcontainers
import data.k8snonroot
import data.k8srequiredlabels

ns(labels) := {"review": {"object": {"kind": "Namespace", "metadata": {"name": "shop", "labels": labels}}}, "parameters": {"labels": ["team", "cost-center"]}}

good_container := {
	"name": "app",
	"image": "cloudmart:0.1.0",
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "300m", "memory": "256Mi"}},
	"securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
}

deployment(containers, pod_sc) := {"review": {"object": {
	"kind": "Deployment",
	"metadata": {"name": "web"},
	"spec": {"template": {"spec": {"containers": containers, "securityContext": pod_sc}}},
}}, "parameters": {"tags": ["latest"]}}

cronjob(containers) := {"review": {"object": {
	"kind": "CronJob",
	"metadata": {"name": "nightly"},
	"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": containers}}}}},
}}, "parameters": {"tags": ["latest"]}}

test_namespace_with_cost_labels_is_admitted if {
	count(k8srequiredlabels.violation) == 0 with input as ns({"team": "platform", "cost-center": "CC-2001"})
}

test_namespace_without_cost_center_is_refused if {
	some v in k8srequiredlabels.violation with input as ns({"team": "platform"})
	v.details.missing_labels == {"cost-center"}
}

test_empty_label_value_counts_as_missing if {
	count(k8srequiredlabels.violation) == 1 with input as ns({"team": "", "cost-center": "CC-1"})
}

test_container_with_requests_and_limits_is_admitted if {
	count(k8scontainerresources.violation) == 0 with input as deployment([good_container], {})
}

test_container_without_memory_limit_is_refused if {
	c := json.remove(good_container, ["resources/limits/memory"])
	vs := k8scontainerresources.violation with input as deployment([c], {})
	vs == {{"msg": "container app of Deployment web has no limits.memory"}}
}

test_init_container_needs_resources_too if {
	inp := json.patch(deployment([good_container], {}), [{"op": "add", "path": "/review/object/spec/template/spec/initContainers", "value": [{"name": "init", "image": "busybox:1.36"}]}])
	count(k8scontainerresources.violation) == 4 with input as inp
}

test_cronjob_pod_spec_is_found if {
	count(k8scontainerresources.violation) == 4 with input as cronjob([{"name": "job", "image": "x:1"}])
}

test_pinned_tags_and_digests_are_admitted if {
	count(k8sdisallowedtags.violation) == 0 with input as deployment([good_container], {})
	digest := json.patch(good_container, [{"op": "replace", "path": "/image", "value": "registry:5000/app@sha256:abc"}])
	count(k8sdisallowedtags.violation) == 0 with input as deployment([digest], {})
}

test_latest_tag_is_refused if {
	c := json.patch(good_container, [{"op": "replace", "path": "/image", "value": "nginx:latest"}])
	count(k8sdisallowedtags.violation) == 1 with input as deployment([c], {})
}

test_untagged_image_with_registry_port_is_refused if {
	c := json.patch(good_container, [{"op": "replace", "path": "/image", "value": "registry:5000/app"}])
	vs := k8sdisallowedtags.violation with input as deployment([c], {})
	vs == {{"msg": "container app uses image registry:5000/app without a tag or digest"}}
}

test_non_root_container_is_admitted if {
	count(k8snonroot.violation) == 0 with input as deployment([good_container], {})
}

test_pod_level_run_as_non_root_is_enough if {
	c := json.remove(good_container, ["securityContext/runAsNonRoot"])
	count(k8snonroot.violation) == 0 with input as deployment([c], {"runAsNonRoot": true})
}

test_container_without_run_as_non_root_is_refused if {
	c := json.remove(good_container, ["securityContext/runAsNonRoot"])
	count(k8snonroot.violation) == 1 with input as deployment([c], {})
}

test_run_as_user_zero_is_refused if {
	c := json.patch(good_container, [{"op": "add", "path": "/securityContext/runAsUser", "value": 0}])
	count(k8snonroot.violation) == 1 with input as deployment([c], {})
}

test_hardened_container_is_admitted if {
	count(k8shardenedcontainers.violation) == 0 with input as deployment([good_container], {})
}

test_seccomp_from_pod_is_accepted if {
	c := json.remove(good_container, ["securityContext/seccompProfile"])
	count(k8shardenedcontainers.violation) == 0 with input as deployment([c], {"seccompProfile": {"type": "RuntimeDefault"}})
}

test_privilege_escalation_and_capabilities_are_refused if {
	c := json.patch(good_container, [
		{"op": "replace", "path": "/securityContext/allowPrivilegeEscalation", "value": true},
		{"op": "replace", "path": "/securityContext/capabilities/drop", "value": ["NET_RAW"]},
	])
	count(k8shardenedcontainers.violation) == 2 with input as deployment([c], {})
}
