package bulksend

import (
	"fmt"

	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/invite"
)

// facts are what decides a person's email: what was asked, and the person
// (and their send) as they stand.
type facts struct {
	want      delivery.Action      // what was asked; "" for AUTO (invitation, or reset instructions for an account)
	status    user.Status          // the person's
	last      *enum.DeliveryStatus // the person's lastEmailStatus
	guarded   bool                 // the sender may not send this to the person's role
	force     bool                 // send even to a suppressed address
	cancelled bool                 // the send was cancelled
	erased    bool                 // the person is gone
}

// decide is the one rule of what a person gets: the action, or SKIP with the
// reason. A send plans each person with it, and a worker applies it again to
// the person as they are when it claims their delivery (a cancelled send, an
// erased person, an address suppressed meanwhile, a status changed since).
// EMAIL_CHANGED goes to an address the person no longer has, whatever they
// are now: only a cancelled send or an erased person stops it.
func decide(f facts) (delivery.Action, string) {
	switch {
	case f.cancelled:
		return delivery.ActionSKIP, "cancelled"
	case f.erased:
		return delivery.ActionSKIP, "person deleted"
	case f.want == delivery.ActionEMAIL_CHANGED:
		return f.want, ""
	case f.status == user.StatusDeactivated:
		return delivery.ActionSKIP, "deactivated"
	case f.guarded:
		return delivery.ActionSKIP, "their role holds permissions you do not have"
	}
	active := f.status == user.StatusActive
	a := f.want
	if a == "" {
		a = delivery.ActionINVITATION
		if active {
			a = delivery.ActionPASSWORD_RESET
		}
	}
	switch {
	case a == delivery.ActionREMINDER && f.status != user.StatusInvited:
		if active {
			return delivery.ActionSKIP, "already has an account"
		}
		return delivery.ActionSKIP, "not invited"
	case a == delivery.ActionPASSWORD_RESET && !active:
		return delivery.ActionSKIP, "has no account yet"
	case a != delivery.ActionPASSWORD_RESET && active:
		return delivery.ActionSKIP, "already has an account"
	}
	if reason := suppressed(f.last); reason != "" && !f.force {
		return delivery.ActionSKIP, reason
	}
	return a, ""
}

// wanted is the action a send of kind asks for ("" for AUTO).
func wanted(kind bulksend.Kind) delivery.Action {
	if kind == bulksend.KindAUTO {
		return ""
	}
	return delivery.Action(kind)
}

// recheck is what becomes of a claimed job before it is sent: pending (send
// it), skipped with decide's reason, or failed once out of attempts.
func recheck(j *job, maxAttempts int) result {
	f := facts{want: j.action, force: j.force, cancelled: j.send != nil && j.send.Status == bulksend.StatusCANCELLED,
		erased: j.user == nil}
	if j.user != nil {
		f.status, f.last = j.user.Status, j.user.LastEmailStatus
	}
	if a, reason := decide(f); a == delivery.ActionSKIP {
		return result{kind: skipped, reason: reason}
	}
	if j.attempts > maxAttempts {
		return result{kind: failed, reason: fmt.Sprintf("gave up after %d attempts", maxAttempts)}
	}
	return result{}
}

// suppressed says why an address whose last email ended as last gets no
// more, or "".
func suppressed(last *enum.DeliveryStatus) string {
	if reason := invite.Suppressed(last); reason != "" {
		return "suppressed: " + reason
	}
	return ""
}
