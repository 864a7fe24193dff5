package bulksend

import (
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
)

// The engine's types, in the order work flows through them: a Request selects
// recipients, planned into deliveries; a worker claims deliveries, loads each
// as a job of a unit, and records each job's result.

// Request selects people and says what to send them.
type Request struct {
	UserIDs []int               // these people (nil: no id filter)
	Where   *ent.UserWhereInput // and those matching (nil or empty: everyone)
	RoleIDs []int               // narrowed to these roles (nil: any)
	Kind    bulksend.Kind       // AUTO when empty
	DryRun  bool
	// IdempotencyKey, with Fingerprint (the canonical form of Where, as the
	// caller received it), makes a repeated request return the same send.
	IdempotencyKey string
	Fingerprint    []byte

	where predicate.User // Where, as a predicate
}

// Result counts what a request selected and plans.
type Result struct {
	BulkSend                                    *ent.BulkSend // nil on a dry run
	Total, Invitations, PasswordResets, Skipped int
	TemporaryPasswords                          int
}

func (r *Result) add(a delivery.Action, n int) {
	switch a {
	case delivery.ActionINVITATION, delivery.ActionREMINDER:
		r.Invitations += n
	case delivery.ActionPASSWORD_RESET:
		r.PasswordResets += n
	case delivery.ActionTEMPORARY_PASSWORD:
		r.TemporaryPasswords += n
	default:
		r.Skipped += n
	}
}

// recipient is one selected person and what they get.
type recipient struct {
	ID     int                  `sql:"id"`
	Email  string               `sql:"email"`
	Status user.Status          `sql:"status"`
	Last   *enum.DeliveryStatus `sql:"last_email_status"`
	RoleID int                  `sql:"role_id"`
	action delivery.Action
	reason string
}

// claimed is a delivery a worker holds.
type claimed struct {
	id, userID, orgID, attempts int
	bulkSendID                  int // 0 for one person's email
	action                      delivery.Action
	email                       string // the address it goes to
	requestedBy                 *int   // one person's email: who asked
	byKey                       bool   // one person's email: an API key asked
	newEmail                    string // EMAIL_CHANGED: the new address
	force                       bool   // sent even to a suppressed address
	retried                     bool   // the provider refused it for now before (not merely claimed before)
	secret                      string // the plain token or generated password
	hash                        []byte
}

// unit is the work one worker holds: claimed deliveries with what sending
// them needs.
type unit struct {
	jobs  []*job
	sends map[int]*ent.BulkSend // with organisation and creator
}

// job is one claimed delivery.
type job struct {
	*claimed
	user      *ent.User     // with role; nil once erased
	send      *ent.BulkSend // nil for one person's email
	org       *ent.Organization
	inviter   string // who the email says asked for it
	createdBy *int   // recorded on the links issued
	expires   time.Time
	locale    string // the language its email is written in (template.Chosen)
	result    result
}

// result is what became of a job.
type result struct {
	kind      resultKind
	messageID string
	reason    string
	retryAt   time.Time
}

type resultKind int

const (
	pending  resultKind = iota
	sent                // the provider took it
	failed              // permanently, or out of attempts
	retry               // temporarily; again at retryAt
	skipped             // not sent, and never will be (reason)
	bounced             // the recipient's server refused the address for good (reason): suppressed from now on
	released            // not tried: handed back without using an attempt
)
