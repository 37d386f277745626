# Gatekeeper: pods run as non-root - runAsNonRoot true on the pod or on every container, and no
# runAsUser 0 anywhere.
package k8snonroot

import rego.v1

pod_spec := input.review.object.spec if input.review.object.kind == "Pod"

pod_spec := input.review.object.spec.template.spec if {
	input.review.object.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if input.review.object.kind == "CronJob"

containers contains c if some c in object.get(pod_spec, "containers", [])

containers contains c if some c in object.get(pod_spec, "initContainers", [])

pod_non_root if pod_spec.securityContext.runAsNonRoot == true

violation contains {"msg": msg} if {
	some c in containers
	not pod_non_root
	not c.securityContext.runAsNonRoot == true
	msg := sprintf("container %s of %s %s does not set runAsNonRoot: true", [
		c.name, input.review.object.kind, input.review.object.metadata.name,
	])
}

violation contains {"msg": msg} if {
	some c in containers
	c.securityContext.runAsNonRoot == false
	msg := sprintf("container %s sets runAsNonRoot: false", [c.name])
}

violation contains {"msg": msg} if {
	pod_spec.securityContext.runAsUser == 0
	msg := sprintf("%s %s runs its pod as root (runAsUser 0)", [input.review.object.kind, input.review.object.metadata.name])
}

violation contains {"msg": msg} if {
	some c in containers
	c.securityContext.runAsUser == 0
	msg := sprintf("container %s runs as root (runAsUser 0)", [c.name])
}
