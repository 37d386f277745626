# CloudMart application authorization, evaluated in-process by cloudmart.core.policy (regopy)
# and servable unchanged by an OPA sidecar.
#
# Input contract:
#   input = {
#     "subject":  {"sub": "<user id>", "roles": ["customer" | "admin", ...]},
#     "action":   "<verb>",   # read | list | create | update | delete | cancel | pay | refund
#     "resource": {"type": "order|payment|notification|product|category|user",
#                  "owner": "<sub of the owner>"}   # owner omitted for catalog/collections
#   }
# Output: data.cloudmart.authz.allow (bool) and data.cloudmart.authz.reason (string).
#
# Rules: admins may do anything; the catalog (product, category) is readable by everyone,
# anonymous included; customers act only on their own orders, payments, notifications and
# user record; a customer may create orders/payments for themself.
package cloudmart.authz

import rego.v1

default allow := false

catalog_types := {"product", "category"}

owned_types := {"order", "payment", "notification", "user"}

read_actions := {"read", "list"}

customer_actions := {
	"order": {"read", "list", "create", "cancel"},
	"payment": {"read", "list", "create", "pay"},
	"notification": {"read", "list", "update"},
	"user": {"read", "update"},
}

is_admin if "admin" in input.subject.roles

authenticated if {
	is_string(input.subject.sub)
	input.subject.sub != ""
}

owns_resource if {
	authenticated
	input.resource.owner == input.subject.sub
}

allow if is_admin

allow if {
	input.resource.type in catalog_types
	input.action in read_actions
}

allow if {
	not is_admin
	input.resource.type in owned_types
	input.action in customer_actions[input.resource.type]
	owns_resource
}

reason := "admin" if is_admin

else := "catalog is public to read" if {
	input.resource.type in catalog_types
	input.action in read_actions
}

else := "owner" if allow

else := "authentication required" if not authenticated

else := sprintf("unknown resource type \"%s\"", [input.resource.type]) if {
	not input.resource.type in catalog_types
	not input.resource.type in owned_types
}

else := sprintf("only admins may %s a %s", [input.action, input.resource.type]) if {
	input.resource.type in catalog_types
}

else := sprintf("action \"%s\" is not allowed on %s", [input.action, input.resource.type]) if {
	not input.action in customer_actions[input.resource.type]
}

else := sprintf("%s belongs to another user", [input.resource.type])
