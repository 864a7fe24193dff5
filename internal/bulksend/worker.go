package bulksend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/backoff"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/template"
	"github.com/rollcall/rollcall/internal/token"
)

// Run works queued deliveries with Config.Concurrency workers, and one
// more for one person's emails (so they never wait behind a bulk send),
// until ctx ends; then lets each finish the unit in hand (sending what it
// can, handing back the rest) and returns.
func (s *Service) Run(ctx context.Context) {
	hints, cancel := s.bus.Subscribe(ctx, workTopic)
	defer cancel()
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Go(func() { s.work(ctx, s.wake, false) })
	}
	wg.Go(func() { s.work(ctx, s.express, true) })
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-hints:
			if !ok {
				hints = nil // the bus closed; the workers still poll
				continue
			}
			if s.ownHint(e) {
				continue // this replica's workers were woken already
			}
			s.express.kick()
			s.wake.kick()
		}
	}
}

// work is one worker: claim a unit (of one person's emails only, with
// singles), deliver it, record it, repeat; sleep when there is nothing to
// do until wake or the poll interval.
//
// The poll runs on the service's clock, as do leases and retry times: a test
// that moves a manual clock past a retry or a lapsed lease wakes idle
// workers at once, without sleeping.
//
// A wake-up brings one worker, not all: workers claiming at the same moment
// would split a small send between them (each skipping the rows another is
// locking), and send it in several provider batches instead of one. A
// worker whose claim came back full wakes the next, so a large send still
// has every worker on it within milliseconds.
func (s *Service) work(ctx context.Context, wake kicker, singles bool) {
	poll := s.clock.NewTimer(0)
	defer poll.Stop()
	for ctx.Err() == nil {
		n, err := s.runUnit(ctx, singles, wake)
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "bulk send worker", slog.String("error", err.Error()))
		}
		if n > 0 && err == nil {
			continue
		}
		poll.Reset(s.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-poll.C():
		}
	}
}

// unitSize is how many deliveries a worker claims at once.
func (s *Service) unitSize() int {
	if s.batch != nil {
		return s.cfg.BatchUnit
	}
	return s.cfg.SingleUnit
}

// runUnit claims, delivers and records one unit; it returns how many
// deliveries it claimed. A full claim kicks next (when not nil) at once:
// more may be due, for another worker to claim while this one sends.
func (s *Service) runUnit(ctx context.Context, singles bool, next kicker) (int, error) {
	u, err := s.claimUnit(ctx, s.unitSize(), singles)
	if err != nil || u == nil {
		return 0, err
	}
	if next != nil && len(u.jobs) >= s.unitSize() {
		next.kick()
	}

	// What was claimed is finished even if ctx ends meanwhile: sent or
	// handed back, and recorded.
	keep := context.WithoutCancel(ctx)
	stop := s.keepLeased(keep, u)
	defer stop()
	s.deliver(ctx, u)
	// The emails have left: recording must not give up lightly (a
	// deadlock victim, a dropped connection), or the unit would be sent
	// again once its lease lapses. The lease is renewed meanwhile.
	for attempt := range recordAttempts {
		if err = s.record(keep, u); err == nil {
			s.waiters.done(u.jobs)
			return len(u.jobs), nil
		}
		if attempt+1 < recordAttempts {
			s.log.WarnContext(ctx, "record bulk-send unit; retrying", slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
	}
	return len(u.jobs), err
}

// recordAttempts is how often a unit's outcome is tried before it is left
// to its lease.
const recordAttempts = 5

// claimUnit claims up to n deliveries (one person's emails only, with
// singles), issues their links and passwords (revoking older ones), and
// decides which can no longer be sent. Secrets are made for the deliveries
// claimed, after the claim: the work follows what is due.
func (s *Service) claimUnit(ctx context.Context, n int, singles bool) (*unit, error) {
	if ctx.Err() != nil {
		return nil, nil
	}
	now := s.clock.Now()
	// The claim commits or not regardless of a stop arriving meanwhile: a
	// COMMIT abandoned half-way may still have committed, leaving a unit
	// nobody works until its lease lapses.
	ctx = context.WithoutCancel(ctx)
	var u *unit
	err := db.InTx(ctx, s.client, func(tx *ent.Client) error {
		sys := auth.AsSystem(ctx)
		got, err := s.store.claim(sys, tx, claimQuery{n: n, now: now, leaseEnds: now.Add(s.cfg.Lease), replica: s.replicaID, singles: singles})
		if err != nil || len(got) == 0 {
			return err
		}
		u, err = s.load(sys, tx, got)
		if err != nil {
			return err
		}
		for _, j := range u.jobs {
			j.result = recheck(j, s.cfg.MaxAttempts)
		}
		makeSecrets(u.jobs)
		return s.issueLinks(sys, tx, u, now)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// makeSecrets gives each pending job that carries one its token or, for
// TEMPORARY_PASSWORD, its generated password.
func makeSecrets(jobs []*job) {
	for _, j := range jobs {
		if j.result.kind != pending {
			continue
		}
		switch j.action {
		case delivery.ActionINVITATION, delivery.ActionPASSWORD_RESET, delivery.ActionREMINDER:
			j.secret, j.hash = token.New()
		case delivery.ActionTEMPORARY_PASSWORD:
			j.secret = token.Password()
		}
	}
}

// load reads the sends, organisations and people of claimed deliveries,
// and who asked for them.
func (s *Service) load(ctx context.Context, tx *ent.Client, got []*claimed) (*unit, error) {
	var sendIDs, userIDs, orgIDs, askers []int
	for _, c := range got {
		if !single(c) {
			sendIDs = append(sendIDs, c.bulkSendID)
		} else if c.requestedBy != nil {
			askers = append(askers, *c.requestedBy)
		}
		userIDs = append(userIDs, c.userID)
		orgIDs = append(orgIDs, c.orgID)
	}
	u := &unit{sends: map[int]*ent.BulkSend{}}
	if len(sendIDs) > 0 {
		sends, err := tx.BulkSend.Query().Where(bulksend.IDIn(slices.Compact(slices.Sorted(slices.Values(sendIDs)))...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read bulk sends: %w", err)
		}
		for _, b := range sends {
			u.sends[b.ID] = b
			if b.CreatedByID != nil { // read with the recipients
				askers = append(askers, *b.CreatedByID)
			}
		}
	}
	orgs, err := tx.Organization.Query().Where(organization.IDIn(slices.Compact(slices.Sorted(slices.Values(orgIDs)))...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read organisations: %w", err)
	}
	orgByID := map[int]*ent.Organization{}
	for _, o := range orgs {
		orgByID[o.ID] = o
	}
	people, err := tx.User.Query().Where(user.IDIn(slices.Compact(slices.Sorted(slices.Values(append(userIDs, askers...))))...)).
		WithRole().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	byID := map[int]*ent.User{}
	for _, p := range people {
		byID[p.ID] = p
	}
	for _, c := range got {
		j := &job{claimed: c, user: byID[c.userID], send: u.sends[c.bulkSendID], org: orgByID[c.orgID]}
		// Who asked: the send's creator, or the person who asked for one
		// person's email; the email names them as the inviter. What an
		// API key asked for names the organisation.
		j.createdBy = c.requestedBy
		byKey := c.byKey
		if j.send != nil {
			j.send.Edges.Organization = j.org
			j.createdBy = j.send.CreatedByID
			byKey = j.send.APIKeyID != nil
		}
		switch {
		case j.createdBy != nil:
			if by := byID[*j.createdBy]; by != nil {
				j.inviter = template.DisplayName(by)
			}
		case byKey && j.org != nil:
			j.inviter = j.org.Name
		}
		u.jobs = append(u.jobs, j)
	}
	return u, nil
}

// issueLinks records the invitation and reset tokens of the unit's pending
// jobs, revoking the people's older tokens of the same kind.
func (s *Service) issueLinks(ctx context.Context, tx *ent.Client, u *unit, now time.Time) error {
	byKind := map[invitation.Kind][]*job{}
	for _, j := range u.jobs {
		if j.result.kind != pending {
			continue
		}
		org := j.org
		switch j.action {
		case delivery.ActionINVITATION, delivery.ActionREMINDER: // a reminder is a fresh invitation link
			j.expires = now.Add(credentials.TTL(org, invitation.KindINVITATION))
			byKind[invitation.KindINVITATION] = append(byKind[invitation.KindINVITATION], j)
		case delivery.ActionPASSWORD_RESET:
			j.expires = now.Add(credentials.TTL(org, invitation.KindPASSWORD_RESET))
			byKind[invitation.KindPASSWORD_RESET] = append(byKind[invitation.KindPASSWORD_RESET], j)
		}
	}
	for kind, jobs := range byKind {
		ids := make([]int, len(jobs))
		creates := make([]*ent.InvitationCreate, len(jobs))
		for i, j := range jobs {
			ids[i] = j.userID
			creates[i] = tx.Invitation.Create().SetOrganizationID(j.orgID).SetUserID(j.userID).SetKind(kind).
				SetTokenHash(j.hash).SetExpiresAt(j.expires).SetNillableCreatedByID(j.createdBy).
				SetDeliveryID(j.id).SetCreatedAt(now).SetUpdatedAt(now)
			if !single(j.claimed) {
				creates[i].SetBulkSendID(j.bulkSendID) // an acceptance counts for the send
			}
		}
		if err := credentials.Revoke(ctx, tx, now, kind, ids...); err != nil {
			return err
		}
		if err := tx.Invitation.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("issue links: %w", err)
		}
	}
	return nil
}

// keepLeased renews the unit's lease until the returned func is called.
func (s *Service) keepLeased(ctx context.Context, u *unit) func() {
	ids := make([]int, len(u.jobs))
	for i, j := range u.jobs {
		ids[i] = j.id
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := s.clock.NewTicker(s.cfg.Lease / 3) // the lease is on the clock: so is its renewal
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C():
			}
			err := s.client.Delivery.Update().
				Where(delivery.IDIn(ids...), delivery.LeasedBy(s.replicaID), delivery.StatusEQ(enum.DeliveryQueued)).
				SetLeaseExpiresAt(s.clock.Now().Add(s.cfg.Lease)).Exec(auth.AsSystem(ctx))
			if err != nil {
				s.log.WarnContext(ctx, "renew delivery lease", slog.String("error", err.Error()))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// deliver renders and sends the unit's pending jobs, setting each result.
// Jobs sharing a template go out as provider batches when the sender can
// batch and none of them is a retry; retries and leftovers go one by one.
func (s *Service) deliver(ctx context.Context, u *unit) {
	// ctx ending stops waiting, not reading: templates are read regardless,
	// so a shutdown hands jobs back instead of failing them.
	read := context.WithoutCancel(ctx)
	templates := s.overrides.Resolver()
	type key struct {
		send, org, role int
		action          delivery.Action
		inviter         string // the same for a whole send
		locale          string // the person's: templates are chosen by it
	}
	groups := map[key][]*job{}
	var order []key
	for _, j := range u.jobs {
		if j.result.kind != pending {
			continue
		}
		k := key{j.bulkSendID, j.orgID, j.user.RoleID, j.action, j.inviter, template.PersonLocale(j.user)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], j)
	}
	for _, k := range order {
		jobs := groups[k]
		chosen, err := templates.For(read, jobs[0].org, kindOf(k.action), k.role, k.locale)
		if err != nil {
			s.failAll(jobs, err)
			continue
		}
		for _, j := range jobs {
			j.locale = chosen.Locale
		}
		r := newRenderer(chosen.Compiled)
		alone := jobs
		if s.batch != nil && len(jobs) > 1 {
			alone = s.sendBatches(ctx, templates, r, jobs)
		}
		for _, j := range alone {
			s.sendOne(ctx, templates, r, j)
		}
	}
}

// email is what the templates see of a job.
func (s *Service) email(j *job) template.Email {
	org := j.org
	e := template.Email{Kind: kindOf(j.action), User: j.user, Org: org, Role: j.user.Edges.Role,
		Inviter: j.inviter, ExpiresAt: j.expires, Locale: j.locale}
	switch j.action {
	case delivery.ActionINVITATION, delivery.ActionREMINDER:
		e.URL, e.TTL = s.links.Invite(j.secret), credentials.TTL(org, invitation.KindINVITATION)
	case delivery.ActionPASSWORD_RESET:
		e.URL, e.TTL = s.links.Reset(j.secret), credentials.TTL(org, invitation.KindPASSWORD_RESET)
	case delivery.ActionTEMPORARY_PASSWORD:
		e.URL, e.TemporaryPassword = s.links.SignIn(), j.secret
		if org.SignInURL != nil {
			e.URL = *org.SignInURL // the organisation's own sign-in page
		}
	case delivery.ActionEMAIL_CHANGED:
		// To the address the account left, naming the new one.
		old := *j.user
		old.Email = j.email
		e.User, e.NewEmail = &old, j.newEmail
	}
	return e
}

// sendOne renders and sends one job on its own.
func (s *Service) sendOne(ctx context.Context, templates *template.Resolver, r *renderer, j *job) {
	if err := s.await(ctx, 1); err != nil {
		j.result = result{kind: released}
		return
	}
	e := s.email(j)
	out, err := r.render(template.DataOf(e))
	if err != nil {
		j.result = result{kind: failed, reason: clip(err.Error())}
		return
	}
	msg := templates.Message(e, out)
	msg.Variables = map[string]string{"delivery_id": fmt.Sprint(j.id)}
	id, err := s.sender.Send(context.WithoutCancel(ctx), msg)
	s.settle(err, id, j)
}

// settle records a provider call's outcome on jobs.
func (s *Service) settle(err error, messageID string, jobs ...*job) {
	now := s.clock.Now()
	for _, j := range jobs {
		reason, bounce := mail.Bounce(err)
		switch {
		case err == nil:
			j.result = result{kind: sent, messageID: messageID}
		case bounce:
			j.result = result{kind: bounced, reason: clip(reason)}
		case mail.IsTemporary(err) && j.attempts < s.cfg.MaxAttempts:
			j.result = result{kind: retry, reason: clip(err.Error()), retryAt: now.Add(s.backoff(j.attempts))}
		default:
			j.result = result{kind: failed, reason: clip(err.Error())}
		}
	}
	var me *mail.Error
	if errors.As(err, &me) && me.Status == http.StatusTooManyRequests {
		s.pause.until(time.Now().Add(s.backoff(1)))
	}
}

// failAll fails jobs that cannot be rendered.
func (s *Service) failAll(jobs []*job, err error) {
	for _, j := range jobs {
		j.result = result{kind: failed, reason: clip(err.Error())}
	}
}

// await waits for the rate limit and any pause the provider asked for.
func (s *Service) await(ctx context.Context, n int) error {
	if err := s.pause.wait(ctx); err != nil {
		return err
	}
	if s.limiter != nil {
		return s.limiter.WaitN(ctx, n)
	}
	return ctx.Err()
}

// backoff is the wait before a delivery's next attempt.
func (s *Service) backoff(attempt int) time.Duration {
	return backoff.Delay(attempt, s.cfg.RetryBase, s.cfg.RetryMax)
}

// kindOf is the template kind of a delivery action.
func kindOf(a delivery.Action) template.Kind { return template.Kind(a) }

// clip keeps error text within the column, and valid UTF-8 (PostgreSQL
// refuses a cut through a character).
func clip(s string) string {
	if len(s) > 1000 {
		return strings.ToValidUTF8(s[:1000], "")
	}
	return s
}

// sortByID orders claimed rows by id (RETURNING does not promise an order).
func sortByID(cs []*claimed) {
	slices.SortFunc(cs, func(a, b *claimed) int { return a.id - b.id })
}

// workHint is the event telling every replica's workers that deliveries
// were queued, naming this replica.
func (s *Service) workHint() events.Event {
	p, _ := json.Marshal(s.replicaID)
	return events.Event{Topic: workTopic, Payload: p}
}

// ownHint says whether a work hint came from this replica.
func (s *Service) ownHint(e events.Event) bool {
	var from string
	return json.Unmarshal(e.Payload, &from) == nil && from == s.replicaID
}

// kicker wakes one waiting worker per kick; a kick while no worker waits is
// kept (one), so none is lost between a worker's claim and its wait.
type kicker chan struct{}

func newKicker() kicker { return make(kicker, 1) }

func (k kicker) kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

// pause holds every worker of the replica back after the provider answered
// 429, so the whole replica backs off, not just the worker that was told.
type pause struct {
	mu  sync.Mutex
	end time.Time
}

func (p *pause) until(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.After(p.end) {
		p.end = t
	}
}

func (p *pause) wait(ctx context.Context) error {
	p.mu.Lock()
	d := time.Until(p.end)
	p.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WorkDue works every delivery due now, unit by unit, in the caller's
// goroutine, and returns how many it claimed: for a replica whose workers
// do not run (tests, maintenance).
func (s *Service) WorkDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.runUnit(ctx, false, nil)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}
