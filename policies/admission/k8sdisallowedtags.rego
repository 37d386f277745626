# Gatekeeper: images are pinned - a tag or digest is required and the tags in
# parameters.tags (e.g. "latest") are refused.
package k8sdisallowedtags

import rego.v1

pod_spec := input.review.object.spec if input.review.object.kind == "Pod"

pod_spec := input.review.object.spec.template.spec if {
	input.review.object.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if input.review.object.kind == "CronJob"

containers contains c if some c in object.get(pod_spec, "containers", [])

containers contains c if some c in object.get(pod_spec, "initContainers", [])

# the part after the last "/" holds the tag, so a registry port is not mistaken for one
image_tag(image) := tag if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
}

violation contains {"msg": msg} if {
	some c in containers
	not contains(c.image, "@")
	not image_tag(c.image)
	msg := sprintf("container %s uses image %s without a tag or digest", [c.name, c.image])
}

violation contains {"msg": msg} if {
	some c in containers
	tag := image_tag(c.image)
	tag in input.parameters.tags
	msg := sprintf("container %s uses image %s: tag %s is not allowed", [c.name, c.image, tag])
}
