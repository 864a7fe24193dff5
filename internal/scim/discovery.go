package scim

import (
	"net/http"
	"strings"
)

// The discovery endpoints (RFC 7644 §4): what this server supports, its
// resource types and their schemas.

func (h *Handler) serviceProviderConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []any{schemaSPConfig},
		"documentationUri": "https://github.com/rollcall/rollcall#scim",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": h.Config.MaxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "API key",
			"description": "Authorization: Bearer with a Rollcall API key (rk_…) holding scim.provision",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": h.Config.PublicURL + Prefix + "/ServiceProviderConfig"},
	})
}

func (h *Handler) resourceTypeDocs() []map[string]any {
	return []map[string]any{
		{"schemas": []any{schemaResType}, "id": "User", "name": "User", "endpoint": "/Users",
			"description": "A person of the organisation", "schema": schemaUser,
			"schemaExtensions": []any{map[string]any{"schema": schemaEnter, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": h.Config.PublicURL + Prefix + "/ResourceTypes/User"}},
		{"schemas": []any{schemaResType}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"description": "A group; one named like a role gives its members that role", "schema": schemaGroup,
			"meta": map[string]any{"resourceType": "ResourceType", "location": h.Config.PublicURL + Prefix + "/ResourceTypes/Group"}},
	}
}

func (h *Handler) resourceTypes(w http.ResponseWriter, _ *http.Request) {
	docs := h.resourceTypeDocs()
	list := make([]any, len(docs))
	for i, d := range docs {
		list[i] = d
	}
	listResponse(w, len(list), 1, list)
}

func (h *Handler) resourceType(w http.ResponseWriter, r *http.Request) {
	for _, d := range h.resourceTypeDocs() {
		if strings.EqualFold(d["id"].(string), r.PathValue("id")) {
			writeJSON(w, http.StatusOK, d)
			return
		}
	}
	writeError(w, notFound("ResourceType", r.PathValue("id")))
}

func attr(name, typ, desc string, opts ...func(map[string]any)) map[string]any {
	a := map[string]any{"name": name, "type": typ, "description": desc, "multiValued": false, "required": false,
		"caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
	for _, o := range opts {
		o(a)
	}
	return a
}

func set(k string, v any) func(map[string]any) { return func(a map[string]any) { a[k] = v } }

func (h *Handler) schemaDocs() []map[string]any {
	str := "string"
	email := attr("emails", "complex", "Email addresses; the primary (else the first) is the person's address", set("multiValued", true),
		set("subAttributes", []any{attr("value", str, "The address"), attr("type", str, "work, home or other"), attr("primary", "boolean", "The person's address")}))
	name := attr("name", "complex", "The person's name", set("subAttributes", []any{
		attr("givenName", str, "First name"), attr("familyName", str, "Last name"),
		attr("formatted", str, "The full name (derived)", set("mutability", "readOnly")),
	}))
	userAttrs := []any{
		attr("userName", str, "The provider's unique name for the person, kept as given; unique, case-insensitive", set("required", true), set("uniqueness", "server")),
		name,
		attr("displayName", str, "The name to show, kept as given; without one, first and last name"),
		email,
		attr("active", "boolean", "false deactivates the person (sessions end at once); true reactivates"),
		attr("externalId", str, "The provider's id for the person", set("caseExact", true)),
		attr("locale", str, "The person's language (BCP 47); the same as preferredLanguage"),
		attr("preferredLanguage", str, "The person's language (BCP 47); the same as locale"),
		attr("groups", "complex", "The groups the person is in", set("multiValued", true), set("mutability", "readOnly"),
			set("subAttributes", []any{attr("value", str, "Group id"), attr("display", str, "Group name")})),
	}
	groupAttrs := []any{
		attr("displayName", str, "The group's name; a role's name gives its members that role", set("required", true), set("uniqueness", "server")),
		attr("externalId", str, "The provider's id for the group", set("caseExact", true)),
		attr("members", "complex", "The group's members (Users)", set("multiValued", true),
			set("subAttributes", []any{attr("value", str, "User id"), attr("display", str, "The member's address", set("mutability", "readOnly"))})),
	}
	meta := func(id string) map[string]any {
		return map[string]any{"resourceType": "Schema", "location": h.Config.PublicURL + Prefix + "/Schemas/" + id}
	}
	return []map[string]any{
		{"schemas": []any{schemaSchema}, "id": schemaUser, "name": "User", "description": "User Account", "attributes": userAttrs, "meta": meta(schemaUser)},
		{"schemas": []any{schemaSchema}, "id": schemaGroup, "name": "Group", "description": "Group", "attributes": groupAttrs, "meta": meta(schemaGroup)},
		{"schemas": []any{schemaSchema}, "id": schemaEnter, "name": "EnterpriseUser", "description": "Accepted and not kept", "attributes": []any{}, "meta": meta(schemaEnter)},
	}
}

func (h *Handler) schemas(w http.ResponseWriter, _ *http.Request) {
	docs := h.schemaDocs()
	list := make([]any, len(docs))
	for i, d := range docs {
		list[i] = d
	}
	listResponse(w, len(list), 1, list)
}

func (h *Handler) schema(w http.ResponseWriter, r *http.Request) {
	for _, d := range h.schemaDocs() {
		if strings.EqualFold(d["id"].(string), r.PathValue("id")) {
			writeJSON(w, http.StatusOK, d)
			return
		}
	}
	writeError(w, notFound("Schema", r.PathValue("id")))
}
