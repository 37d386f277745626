# Gatekeeper: every container (init containers too) sets CPU and memory requests and limits.
package k8scontainerresources

import rego.v1

pod_spec := input.review.object.spec if input.review.object.kind == "Pod"

pod_spec := input.review.object.spec.template.spec if {
	input.review.object.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if input.review.object.kind == "CronJob"

containers contains c if some c in object.get(pod_spec, "containers", [])

containers contains c if some c in object.get(pod_spec, "initContainers", [])

violation contains {"msg": msg} if {
	some c in containers
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not c.resources[kind][resource]
	msg := sprintf("container %s of %s %s has no %s.%s", [
		c.name, input.review.object.kind, input.review.object.metadata.name, kind, resource,
	])
}
