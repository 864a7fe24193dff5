package bulksend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// MaxUserIDs is the most ids one request may list.
const MaxUserIDs = 100_000

// IdempotencyWindow is how long an idempotency key returns its send.
const IdempotencyWindow = 24 * time.Hour

// Start plans a bulk send for the viewer (or, with DryRun, only counts it).
func (s *Service) Start(ctx context.Context, req Request) (*Result, error) {
	if req.Kind == "" {
		req.Kind = bulksend.KindAUTO
	}
	if req.Where != nil {
		p, err := req.Where.P()
		if err != nil && !errors.Is(err, ent.ErrEmptyUserWhereInput) {
			return nil, apperr.Invalid("where", err.Error())
		}
		req.where = p
	}
	need := perm.PeopleInvite
	if req.Kind == bulksend.KindTEMPORARY_PASSWORD {
		need = perm.CredentialsManage
	}
	if err := viewer.Require(ctx, need); err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	if len(req.IdempotencyKey) > 200 {
		return nil, apperr.Invalid("idempotencyKey", "at most 200 characters")
	}
	if len(req.UserIDs) > MaxUserIDs {
		return nil, apperr.Invalid("userIds", fmt.Sprintf("at most %d ids at once; select by filter instead", MaxUserIDs))
	}
	hash := fingerprint([]byte(req.Kind), intsKey(req.UserIDs), intsKey(req.RoleIDs), req.Fingerprint)
	if !req.DryRun && req.IdempotencyKey != "" {
		if res, err := s.repeated(ctx, v, req.IdempotencyKey, hash); res != nil || err != nil {
			return res, err
		}
	}
	if err := s.checkRoles(ctx, req.RoleIDs); err != nil {
		return nil, err
	}
	people, err := s.selectPeople(ctx, s.client, v.OrgID, req)
	if err != nil {
		return nil, err
	}
	guarded, err := s.guardedRoles(ctx, v, req.Kind)
	if err != nil {
		return nil, err
	}
	res := count(people, req.Kind, guarded)
	if req.DryRun {
		return res, nil
	}
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if req.IdempotencyKey != "" {
			// An expired key is released for reuse.
			err := tx.BulkSend.Update().
				Where(startedBy(v), bulksend.IdempotencyKey(req.IdempotencyKey),
					bulksend.CreatedAtLTE(s.clock.Now().Add(-IdempotencyWindow))).
				ClearIdempotencyKey().Exec(auth.AsSystem(ctx))
			if err != nil {
				return fmt.Errorf("release idempotency key: %w", err)
			}
		}
		res.BulkSend, err = s.queue(ctx, tx, v.OrgID, invite.RequesterOf(v), req.Kind, bulksend.TriggerMANUAL, people, req.IdempotencyKey, hash)
		return err
	})
	if ent.IsConstraintError(err) && req.IdempotencyKey != "" {
		// The same key was used concurrently and the other request won.
		if res, rerr := s.repeated(ctx, v, req.IdempotencyKey, hash); res != nil || rerr != nil {
			return res, rerr
		}
	}
	if err != nil {
		return nil, err
	}
	res.BulkSend = res.BulkSend.Unwrap()
	s.Queued(ctx, res.BulkSend)
	return res, nil
}

// Queue plans a send of kind to userIDs (who must be of orgID) through tx, a
// transaction's client, on behalf of by, for services that invite as
// part of a larger change (inviteUsers: MANUAL, importUsers: IMPORT). Call
// Queued with the send after the transaction commits.
func (s *Service) Queue(ctx context.Context, tx *ent.Client, orgID int, by invite.Requester, kind bulksend.Kind, trigger bulksend.Trigger, userIDs []int) (*ent.BulkSend, error) {
	people, err := s.selectPeople(ctx, tx, orgID, Request{UserIDs: userIDs, Kind: kind})
	if err != nil {
		return nil, err
	}
	count(people, kind, nil) // decides each person's action
	return s.queue(ctx, tx, orgID, by, kind, trigger, people, "", nil)
}

// QueuePeople is Queue for people the caller has just read or created
// through tx, all of orgID, sparing their reading again; events are
// recorded in the audit log with the send's own event, in one write.
func (s *Service) QueuePeople(ctx context.Context, tx *ent.Client, orgID int, by invite.Requester, kind bulksend.Kind, trigger bulksend.Trigger, people []*ent.User, events ...audit.Event) (*ent.BulkSend, error) {
	byID := make(map[int]*recipient, len(people))
	for _, u := range people {
		byID[u.ID] = &recipient{ID: u.ID, Email: u.Email, Status: u.Status, Last: u.LastEmailStatus, RoleID: u.RoleID}
	}
	rs := slices.SortedFunc(maps.Values(byID), func(a, b *recipient) int { return a.ID - b.ID })
	count(rs, kind, nil) // decides each person's action
	return s.queue(ctx, tx, orgID, by, kind, trigger, rs, "", nil, events...)
}

// startedBy matches the sends v started: a person's own, or an API key's
// (idempotency keys are scoped to either).
func startedBy(v *viewer.Viewer) predicate.BulkSend {
	if v.IsKey() {
		return bulksend.APIKeyID(v.APIKeyID)
	}
	return bulksend.CreatedByID(v.UserID)
}

// repeated returns the send an idempotency key already made, nil if the key
// is unused (or expired), or CONFLICT if it was used for another request.
func (s *Service) repeated(ctx context.Context, v *viewer.Viewer, key string, hash []byte) (*Result, error) {
	b, err := s.client.BulkSend.Query().
		Where(bulksend.OrganizationID(v.OrgID), startedBy(v), bulksend.IdempotencyKey(key),
			bulksend.CreatedAtGT(s.clock.Now().Add(-IdempotencyWindow))).
		Only(auth.AsSystem(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find idempotent send: %w", err)
	}
	if !bytes.Equal(b.InputHash, hash) {
		return nil, apperr.New(apperr.Conflict, "this idempotencyKey was already used for a different request")
	}
	res := &Result{BulkSend: b, Total: b.Total}
	var groups []struct {
		Action delivery.Action `json:"action"`
		Count  int             `json:"count"`
	}
	err = s.client.Delivery.Query().Where(delivery.BulkSendID(b.ID)).
		GroupBy(delivery.FieldAction).Aggregate(ent.Count()).Scan(auth.AsSystem(ctx), &groups)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	for _, g := range groups {
		res.add(g.Action, g.Count)
	}
	return res, nil
}

// checkRoles refuses role ids that are not the organisation's.
func (s *Service) checkRoles(ctx context.Context, ids []int) error {
	if len(ids) == 0 {
		return nil
	}
	n, err := s.client.Role.Query().Where(role.IDIn(ids...)).Count(ctx)
	if err != nil {
		return fmt.Errorf("check roles: %w", err)
	}
	if n != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
		return &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleIds"}
	}
	return nil
}

// selectPeople reads the people a request selects in orgID, in id order,
// through c (the service's client or a transaction's). Listed ids that are not
// the organisation's are NOT_FOUND.
func (s *Service) selectPeople(ctx context.Context, c *ent.Client, orgID int, req Request) ([]*recipient, error) {
	ctx = auth.AsSystem(ctx)
	base := []predicate.User{user.OrganizationID(orgID)}
	if req.where != nil {
		base = append(base, req.where)
	}
	if len(req.RoleIDs) > 0 {
		base = append(base, user.RoleIDIn(req.RoleIDs...))
	}
	read := func(ps ...predicate.User) ([]*recipient, error) {
		var out []*recipient
		err := c.User.Query().Where(append(slices.Clone(base), ps...)...).Order(ent.Asc(user.FieldID)).
			Select(user.FieldID, user.FieldEmail, user.FieldStatus, user.FieldLastEmailStatus, user.FieldRoleID).Scan(ctx, &out)
		if err != nil {
			return nil, fmt.Errorf("select people: %w", err)
		}
		return out, nil
	}
	if req.UserIDs == nil {
		return read()
	}
	ids := slices.Compact(slices.Sorted(slices.Values(req.UserIDs)))
	var out []*recipient
	for start := 0; start < len(ids); start += 10_000 {
		part, err := read(user.IDIn(ids[start:min(start+10_000, len(ids))]...))
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	if req.where == nil && len(req.RoleIDs) == 0 && len(out) != len(ids) {
		return nil, &apperr.Error{Code: apperr.NotFound, Message: "some people were not found", Field: "userIds"}
	}
	if len(out) != len(ids) {
		// With a filter too, a listed id may rightly be filtered out; but
		// it must still be one of the organisation's people.
		n := 0
		for start := 0; start < len(ids); start += 10_000 { // within the databases' parameter limits
			part, err := c.User.Query().Where(user.OrganizationID(orgID), user.IDIn(ids[start:min(start+10_000, len(ids))]...)).Count(ctx)
			if err != nil {
				return nil, fmt.Errorf("check people: %w", err)
			}
			n += part
		}
		if n != len(ids) {
			return nil, &apperr.Error{Code: apperr.NotFound, Message: "some people were not found", Field: "userIds"}
		}
	}
	return out, nil
}

// guardedRoles returns the roles of v's organisation whose holders v may not
// send kind to: a temporary password hands over the account, so, as for
// setTemporaryPassword, it needs every permission of the person's role.
// Invitations and reset instructions go to the person's own address and
// need no more than the send's permission.
func (s *Service) guardedRoles(ctx context.Context, v *viewer.Viewer, kind bulksend.Kind) (map[int]bool, error) {
	if !handsOver(kind) {
		return nil, nil
	}
	roles, err := s.client.Role.Query().Where(role.OrganizationID(v.OrgID)).All(auth.AsSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	return guardedAmong(v, roles), nil
}

// handsOver reports whether an email of kind hands the account over (a
// temporary password), so that sending it needs every permission of the
// person's role.
func handsOver(kind bulksend.Kind) bool { return kind == bulksend.KindTEMPORARY_PASSWORD }

// guardedAmong returns the ids of roles whose holders' accounts v may not
// hand over: those granting a permission v does not hold.
func guardedAmong(v *viewer.Viewer, roles []*ent.Role) map[int]bool {
	out := map[int]bool{}
	for _, r := range roles {
		if !v.CanGrant(r.Permissions) {
			out[r.ID] = true
		}
	}
	return out
}

// count decides each person's action and counts them.
func count(people []*recipient, kind bulksend.Kind, guarded map[int]bool) *Result {
	res := &Result{Total: len(people)}
	for _, p := range people {
		p.action, p.reason = decide(facts{want: wanted(kind), status: p.Status, last: p.Last, guarded: guarded[p.RoleID]})
		res.add(p.action, 1)
	}
	return res
}

// queue writes the send and its deliveries through tx, with the audit
// events also after the send's own; a send with nothing to deliver is
// finished at once.
func (s *Service) queue(ctx context.Context, tx *ent.Client, orgID int, by invite.Requester, kind bulksend.Kind, trigger bulksend.Trigger, people []*recipient, key string, hash []byte, also ...audit.Event) (*ent.BulkSend, error) {
	sys := auth.AsSystem(ctx)
	now := s.clock.Now()
	skipped := 0
	for _, p := range people {
		if p.action == delivery.ActionSKIP {
			skipped++
		}
	}
	create := tx.BulkSend.Create().SetOrganizationID(orgID).SetNillableCreatedByID(by.Person()).SetNillableAPIKeyID(by.Key()).
		SetKind(kind).SetTrigger(trigger).
		SetTotal(len(people)).SetSkipped(skipped).SetCreatedAt(now).SetUpdatedAt(now)
	if key != "" {
		create.SetIdempotencyKey(key).SetInputHash(hash)
	}
	b, err := create.Save(sys)
	if err != nil {
		return nil, fmt.Errorf("create bulk send: %w", err)
	}
	if err := s.store.insertDeliveries(sys, tx, b, people, now); err != nil {
		return nil, err
	}
	err = s.audit.Record(ctx, tx, orgID, append([]audit.Event{{Action: "bulk_send.created", TargetType: "BulkSend", TargetID: b.ID,
		Details: map[string]any{"kind": kind, "total": len(people), "skipped": skipped}}}, also...)...)
	if err != nil {
		return nil, err
	}
	if skipped == len(people) {
		if b, err = s.finish(ctx, tx, b.ID); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// intsKey is a canonical byte form of a set of ids.
func intsKey(ids []int) []byte {
	if ids == nil {
		return nil
	}
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	return fmt.Appendf(nil, "%v", sorted)
}
