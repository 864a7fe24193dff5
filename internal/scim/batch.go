package scim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Provisioning groups the POSTs of new people that arrive together (an
// identity provider's first sync sends thousands, several at a time) into
// one transaction: a group commit. While one group is written, the requests
// that arrive wait and form the next, so nothing waits for a timer and a
// lone request is written at once. A group shares one look for people
// already known, one read of the organisation and role, and one insert each
// of people, events and audit entries; every request still gets its own
// answer. Whatever a group cannot settle for sure — someone it finds
// already known, two requests for the same name or address, a taken name
// the insert runs into — goes the one-by-one way (provisionOne), which
// links people again or answers 409 as before.

// maxGroup bounds the requests one transaction writes.
const maxGroup = 100

// groupKey is what the requests of one group share: the API key, and the
// client address and permissions the audit entries and rules use (the same
// key's requests nearly always share them).
type groupKey struct {
	key   int
	ip    string
	perms string
}

// provisionJob is one request waiting in a group.
type provisionJob struct {
	ctx   context.Context
	st    userState
	user  *ent.User
	err   error
	alone bool          // settle it one by one instead
	done  chan struct{} // closed when user, err or alone is set
	lead  chan struct{} // told to write the next group
}

// grouper queues new people's POSTs per groupKey.
type grouper struct {
	mu      sync.Mutex
	waiting map[groupKey][]*provisionJob
	busy    map[groupKey]bool // a group of the key is being written
	// queued, when set (tests), is told how many requests of a key
	// wait after each arrival.
	queued func(k groupKey, waiting int)
}

func newGrouper() *grouper {
	return &grouper{waiting: map[groupKey][]*provisionJob{}, busy: map[groupKey]bool{}}
}

// submit queues j and returns once its group is written: the first request
// of an idle key writes a group at once (itself and whoever queued
// meanwhile); the others wait until written, or until told to write the
// next group.
func (g *grouper) submit(k groupKey, j *provisionJob, write func(ctx context.Context, jobs []*provisionJob)) {
	g.mu.Lock()
	g.waiting[k] = append(g.waiting[k], j)
	leads := !g.busy[k]
	g.busy[k] = true
	if g.queued != nil {
		g.queued(k, len(g.waiting[k]))
	}
	g.mu.Unlock()
	if leads {
		g.writeNext(k, write)
	}
	for {
		select {
		case <-j.done:
			return
		case <-j.lead:
			g.writeNext(k, write)
		}
	}
}

// writeNext writes the next group of k (the caller's job is in it), then
// hands the key to the first request waiting, or leaves it idle.
func (g *grouper) writeNext(k groupKey, write func(ctx context.Context, jobs []*provisionJob)) {
	g.mu.Lock()
	jobs := g.waiting[k]
	if len(jobs) > maxGroup {
		jobs, g.waiting[k] = jobs[:maxGroup], jobs[maxGroup:]
	} else {
		delete(g.waiting, k)
	}
	g.mu.Unlock()
	defer func() {
		// Whatever happened (a panic included), every job of the group
		// gets an answer and the key a next writer.
		for _, j := range jobs {
			select {
			case <-j.done:
			default:
				j.err = errors.New("provision group: not written")
				close(j.done)
			}
		}
		g.mu.Lock()
		if next := g.waiting[k]; len(next) > 0 {
			next[0].lead <- struct{}{}
		} else {
			delete(g.busy, k)
		}
		g.mu.Unlock()
	}()
	// The group is written under its first request's viewer and client
	// address, for all of them, and outlives that request's cancellation.
	ctx := context.WithoutCancel(jobs[0].ctx)
	write(ctx, jobs)
}

// provisionGrouped creates the new person st describes in a group with
// concurrent requests; alone reports that the group could not settle it
// and it must go one by one.
func (h *Handler) provisionGrouped(ctx context.Context, st userState) (u *ent.User, alone bool, err error) {
	v := viewer.FromContext(ctx)
	if v == nil || !v.IsKey() {
		return nil, true, nil
	}
	j := &provisionJob{ctx: ctx, st: st, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	k := groupKey{key: v.APIKeyID, ip: clientip.FromContext(ctx), perms: strings.Join(v.Permissions, ",")}
	h.newPeople.submit(k, j, h.writePeople)
	return j.user, j.alone, j.err
}

// writePeople creates the people of jobs in one transaction, settling each
// job (see provisionGrouped).
func (h *Handler) writePeople(ctx context.Context, jobs []*provisionJob) {
	ctx, cancel := context.WithTimeout(ctx, h.Config.Timeout)
	defer cancel()
	finish := func(j *provisionJob) { close(j.done) }
	// Two requests for one name or address: the first goes in the group.
	type member struct {
		j          *provisionJob
		norm, addr string // the normalised userName and address
	}
	norms := make([]string, len(jobs))
	addrs := make([]string, len(jobs))
	seen := map[string]bool{}
	var group []member
	for i, j := range jobs {
		norms[i] = normalizeUserName(j.st.UserName)
		_, addrs[i], _ = emailaddr.Normalize(j.st.email())
		if seen["u:"+norms[i]] || seen["a:"+addrs[i]] {
			j.alone = true
			finish(j)
			continue
		}
		seen["u:"+norms[i]], seen["a:"+addrs[i]] = true, true
		group = append(group, member{j, norms[i], addrs[i]})
	}
	// People already known (linked or not) go one by one.
	known, err := h.Client.User.Query().
		Where(user.Or(user.ScimUserNameNormalizedIn(norms...), user.EmailNormalizedIn(addrs...))).
		Select(user.FieldScimUserNameNormalized, user.FieldEmailNormalized).All(ctx)
	if err != nil {
		err = fmt.Errorf("find people for %d SCIM userNames: %w", len(jobs), err)
		for _, m := range group {
			m.j.err = err
			finish(m.j)
		}
		return
	}
	taken := map[string]bool{}
	for _, u := range known {
		taken["a:"+u.EmailNormalized] = true
		if u.ScimUserNameNormalized != nil {
			taken["u:"+*u.ScimUserNameNormalized] = true
		}
	}
	ins := make([]invite.PersonInput, 0, len(group))
	pending := make([]*bool, 0, len(group)) // whether each waits for its invitation
	rest := make([]*provisionJob, 0, len(group))
	for _, m := range group {
		j, norm := m.j, m.norm
		if taken["u:"+norm] || taken["a:"+m.addr] {
			j.alone = true
			finish(j)
			continue
		}
		pending = append(pending, new(bool))
		ins = append(ins, personInput(j.st, norm, pending[len(pending)-1]))
		rest = append(rest, j)
	}
	if len(rest) == 0 {
		return
	}
	users, errs, err := h.Invites.CreatePeople(ctx, ins)
	if err != nil {
		// A name or address someone took meanwhile: one by one, each
		// learns whether it is theirs.
		e, ok := apperr.As(err)
		alone := ok && e.Code == apperr.Conflict
		for _, j := range rest {
			j.alone, j.err = alone, err
			if alone {
				j.err = nil
			}
			finish(j)
		}
		return
	}
	invited := false
	for i, j := range rest {
		if errs[i] != nil {
			j.err = errs[i]
		} else {
			j.user = users[i]
			j.user.Edges.Groups = []*ent.Group{}
			invited = invited || *pending[i]
		}
		finish(j)
	}
	if invited && h.Invited != nil {
		h.Invited(viewer.FromContext(ctx).OrgID)
	}
}
