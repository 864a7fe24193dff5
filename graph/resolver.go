// Package graph is Rollcall's GraphQL layer: thin resolvers that read the
// viewer, call one domain service and let errors.go map its errors.
package graph

import (
	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/apikey"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/bulksend"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/history"
	"github.com/rollcall/rollcall/internal/importer"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/org"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/stats"
	"github.com/rollcall/rollcall/internal/template"
	"github.com/rollcall/rollcall/internal/webhookout"
)

// Resolver holds the services the resolvers call.
type Resolver struct {
	Client   *ent.Client
	Clock    clock.Clock
	Auth     *auth.Service
	Orgs     *org.Service
	People   *people.Service
	Admin    *people.Admin
	Invites  *invite.Service
	Importer *importer.Service
	Audit    *audit.Log
	// BulkSends plans, reports and cancels bulk sends.
	BulkSends *bulksend.Service
	Notify    *notify.Service
	// History serves email history, bulkSends and imports.
	History *history.Service
	// Templates saves, lists and previews template overrides.
	Templates *template.Service
	// APIKeys creates, lists and revokes API keys.
	Keys *apikey.Service
	// EventLog serves the events log; Feed streams it live.
	EventLog *event.Log
	Feed     *event.Feed
	// Webhooks manages outbound webhook endpoints.
	Webhooks *webhookout.Service
	// Stats answers peopleStats, invitationFunnel and a send's acceptances.
	Stats *stats.Service
}
