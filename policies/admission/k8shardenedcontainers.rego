# Gatekeeper (prod): containers cannot escalate privileges, drop ALL capabilities and use the
# RuntimeDefault (or a Localhost) seccomp profile, set on the container or the pod.
package k8shardenedcontainers

import rego.v1

pod_spec := input.review.object.spec if input.review.object.kind == "Pod"

pod_spec := input.review.object.spec.template.spec if {
	input.review.object.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if input.review.object.kind == "CronJob"

containers contains c if some c in object.get(pod_spec, "containers", [])

containers contains c if some c in object.get(pod_spec, "initContainers", [])

seccomp_ok(c) if c.securityContext.seccompProfile.type in {"RuntimeDefault", "Localhost"}

seccomp_ok(c) if {
	not c.securityContext.seccompProfile
	pod_spec.securityContext.seccompProfile.type in {"RuntimeDefault", "Localhost"}
}

violation contains {"msg": msg} if {
	some c in containers
	not c.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("container %s must set allowPrivilegeEscalation: false", [c.name])
}

violation contains {"msg": msg} if {
	some c in containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
	msg := sprintf("container %s must drop ALL capabilities", [c.name])
}

violation contains {"msg": msg} if {
	some c in containers
	not seccomp_ok(c)
	msg := sprintf("container %s needs a RuntimeDefault or Localhost seccomp profile", [c.name])
}
