# Gatekeeper: an object must carry every label in parameters.labels, with a non-empty value.
# Cost allocation groups namespaces by `team` and `cost-center`, so those are required.
package k8srequiredlabels

import rego.v1

violation contains {"msg": msg, "details": {"missing_labels": missing}} if {
	labels := object.get(input.review.object.metadata, "labels", {})
	provided := {key | labels[key] != ""}
	required := {key | some key in input.parameters.labels}
	missing := required - provided
	count(missing) > 0
	msg := sprintf("%s %s is missing required labels: %v", [
		input.review.object.kind,
		input.review.object.metadata.name,
		sort(missing),
	])
}
