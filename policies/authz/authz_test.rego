package cloudmart.authz_test

import rego.v1

import data.cloudmart.authz

customer(sub) := {"sub": sub, "roles": ["customer"]}

admin := {"sub": "a1", "roles": ["admin"]}

anonymous := {"sub": "", "roles": []}

test_owner_reads_own_order if {
	authz.allow with input as {"subject": customer("u1"), "action": "read", "resource": {"type": "order", "owner": "u1"}}
	authz.reason == "owner" with input as {"subject": customer("u1"), "action": "read", "resource": {"type": "order", "owner": "u1"}}
}

test_customer_cannot_read_another_users_payment if {
	inp := {"subject": customer("u1"), "action": "read", "resource": {"type": "payment", "owner": "u2"}}
	not authz.allow with input as inp
	authz.reason == "payment belongs to another user" with input as inp
}

test_customer_lists_own_notifications if {
	authz.allow with input as {"subject": customer("u1"), "action": "list", "resource": {"type": "notification", "owner": "u1"}}
}

test_anonymous_reads_catalog if {
	authz.allow with input as {"subject": anonymous, "action": "list", "resource": {"type": "product"}}
	authz.allow with input as {"subject": anonymous, "action": "read", "resource": {"type": "category"}}
}

test_customer_cannot_manage_catalog if {
	inp := {"subject": customer("u1"), "action": "create", "resource": {"type": "product"}}
	not authz.allow with input as inp
	authz.reason == "only admins may create a product" with input as inp
}

test_admin_manages_catalog_and_reads_any_order if {
	authz.allow with input as {"subject": admin, "action": "delete", "resource": {"type": "product"}}
	authz.allow with input as {"subject": admin, "action": "read", "resource": {"type": "order", "owner": "u9"}}
	authz.reason == "admin" with input as {"subject": admin, "action": "update", "resource": {"type": "category"}}
}

test_anonymous_cannot_read_orders if {
	inp := {"subject": anonymous, "action": "read", "resource": {"type": "order", "owner": "u1"}}
	not authz.allow with input as inp
	authz.reason == "authentication required" with input as inp
}

test_customer_cannot_delete_own_order if {
	inp := {"subject": customer("u1"), "action": "delete", "resource": {"type": "order", "owner": "u1"}}
	not authz.allow with input as inp
	authz.reason == "action \"delete\" is not allowed on order" with input as inp
}

test_unknown_resource_type_is_denied if {
	inp := {"subject": customer("u1"), "action": "read", "resource": {"type": "warehouse", "owner": "u1"}}
	not authz.allow with input as inp
	authz.reason == "unknown resource type \"warehouse\"" with input as inp
}

test_missing_subject_is_denied if {
	not authz.allow with input as {"action": "read", "resource": {"type": "order", "owner": "u1"}}
}
