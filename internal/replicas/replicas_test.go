package replicas_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/testdb"
)

const (
	orgSlug       = "acme"
	ownerEmail    = "owner@acme.test"
	ownerPassword = "correct horse battery staple"
	mailDomain    = "mg.example.com"
	// maxBatch is Mailgun's recipients per call, the unit of a batch sender.
	maxBatch = 1000
)

// lease is ROLLCALL_SEND_LEASE: short, so a dead replica's claims lapse
// within the test; ROLLCALL_TEST_SEND_LEASE sets another (30s, the default,
// to measure the takeover as deployed).
var lease = envDuration("ROLLCALL_TEST_SEND_LEASE", 3*time.Second)

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// inFlightBound is the documented limit on deliveries sent twice after a
// crash: what one replica can hold at once, ROLLCALL_SEND_CONCURRENCY units,
// a unit being a Mailgun batch capped by ROLLCALL_SEND_RATE per second.
func inFlightBound(concurrency, rate int) int { return concurrency * min(maxBatch, rate) }

// TestTwoReplicasShareASend starts a send on replica A, watches it from
// replica B, and checks that both worked it and nobody got two emails.
func TestTwoReplicasShareASend(t *testing.T) {
	c := newCluster(t)
	const people, rate, concurrency = 3000, 300, 2
	mgA, mgB := newProvider(t, "key-a", nil), newProvider(t, "key-b", nil)
	rs := c.startAll(
		replicaConfig{name: "A", provider: mgA, rate: rate, concurrency: concurrency},
		replicaConfig{name: "B", provider: mgB, rate: rate, concurrency: concurrency},
	)
	a, b := rs[0], rs[1]
	emails := c.seed(t, people)
	tok := a.login(t)

	began := time.Now()
	send := a.startSend(t, tok)
	require.Equal(t, people, send.Total)
	sub := b.subscribe(t, tok, send.ID)

	final := b.waitFinished(t, tok, send.ID, lease+45*time.Second)
	elapsed := time.Since(began)
	require.Equal(t, "COMPLETED", final.Status)
	require.Equal(t, people, final.Sent, "%+v", final)
	require.Zero(t, final.Failed+final.Skipped, "%+v", final)

	// B's subscriber saw the send move and end.
	var got subscription
	select {
	case got = <-sub:
	case <-time.After(15 * time.Second):
		t.Fatal("B's bulkSendProgress subscription did not complete after the send finished")
	}
	require.NoError(t, got.err, "subscription on B; events so far: %+v", got.events)
	require.True(t, got.completed, "the subscription ends with complete")
	require.NotEmpty(t, got.events)
	last := got.events[len(got.events)-1]
	require.Equal(t, "COMPLETED", last.Status, "final state over the websocket")
	require.Equal(t, people, last.Sent)
	require.NotNil(t, last.FinishedAt)
	progressed := 0
	for i, e := range got.events {
		if e.FinishedAt == nil && e.Sent > 0 && e.Sent < people {
			progressed++
		}
		if i > 0 {
			prev := got.events[i-1]
			require.GreaterOrEqual(t, e.Sent+e.Failed+e.Skipped, prev.Sent+prev.Failed+prev.Skipped, "progress never goes back: %+v", got.events)
		}
	}
	require.Positive(t, progressed, "B's subscriber saw progress before the end: %+v", got.events)

	// Everyone got exactly one email, and both replicas sent some.
	counts := received(mgA, mgB)
	for _, e := range emails {
		require.Equal(t, 1, counts[e], "emails to %s", e)
	}
	require.Len(t, counts, people, "nobody else was emailed")
	require.Positive(t, mgA.Recipients(), "replica A sent a share")
	require.Positive(t, mgB.Recipients(), "replica B sent a share")
	c.requireSettled(t, people)
	t.Logf("%d recipients in %v: A sent %d in %d calls, B sent %d in %d calls; B's subscriber got %d events (%d in progress)",
		people, elapsed.Round(time.Millisecond), mgA.Recipients(), mgA.Calls(), mgB.Recipients(), mgB.Calls(), len(got.events), progressed)
}

// TestKilledReplicaWorkIsTakenOver kills replica A (SIGKILL) at the worst
// moment, right after its provider accepted a batch and before A could
// record it, and checks that B finishes the send, nobody is lost, and no
// more people than the documented bound get a second email.
func TestKilledReplicaWorkIsTakenOver(t *testing.T) {
	c := newCluster(t)
	const people, rate, concurrency = 2000, 200, 2
	bound := inFlightBound(concurrency, rate)

	// A's provider kills A inside A's second accepted call after the
	// mutation answered, before the provider's answer leaves: the recipients
	// have their email, A never learns it.
	var victim atomic.Pointer[replica]
	var accepted atomic.Int32
	type crash struct {
		messageID string
		err       error
		at        time.Time
	}
	crashed := make(chan crash, 1)
	mgA := newProvider(t, "key-a", func(mg http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cw := &captureWriter{ResponseWriter: w}
			mg.ServeHTTP(cw, r)
			if cw.status != 0 && cw.status != http.StatusOK {
				return
			}
			v := victim.Load()
			if v == nil {
				return // the mutation has not answered yet: A must live to answer it
			}
			if accepted.Add(1) != 2 {
				return
			}
			var body struct{ ID string }
			_ = json.Unmarshal(cw.body.Bytes(), &body)
			err := v.kill()
			crashed <- crash{messageID: strings.Trim(body.ID, "<>"), err: err, at: time.Now()}
		})
	})
	// B's provider answers as slowly as Mailgun's API does: a dead
	// replica's deliveries sent one call each would show in the takeover.
	mgB := newProvider(t, "key-b", func(mg http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(100 * time.Millisecond) // the provider's latency, not a wait for a condition
			mg.ServeHTTP(w, r)
		})
	})
	rs := c.startAll(
		replicaConfig{name: "A", provider: mgA, rate: rate, concurrency: concurrency},
		replicaConfig{name: "B", provider: mgB, rate: rate, concurrency: concurrency},
	)
	a, b := rs[0], rs[1]
	emails := c.seed(t, people)
	tok := b.login(t)

	began := time.Now()
	send := a.startSend(t, tok)
	require.Equal(t, people, send.Total)
	victim.Store(a)

	var cr crash
	deadline := time.After(30 * time.Second)
	for waiting := true; waiting; {
		select {
		case cr = <-crashed:
			waiting = false
		case <-deadline:
			t.Fatalf("A never made a second provider call; send: %+v", b.bulkSend(t, tok, send.ID))
		case <-time.After(200 * time.Millisecond):
			if s := b.bulkSend(t, tok, send.ID); s.FinishedAt != nil {
				t.Fatalf("the send finished before A could be killed: %+v", s)
			}
		}
	}
	require.NoError(t, cr.err, "kill A")
	require.False(t, a.running(), "A is dead")
	held := c.heldBy(t, a.pid)
	atCrash := b.bulkSend(t, tok, send.ID)
	require.Less(t, atCrash.Sent, people, "killed mid-send")
	inKilledCall := map[string]bool{}
	for _, m := range mgA.Messages() {
		if m.ID == cr.messageID {
			inKilledCall[m.To] = true
		}
	}
	require.NotEmpty(t, inKilledCall, "the killed call carried recipients")
	t.Logf("killed A %v after the send began: its call %s (%d recipients) accepted but unrecorded; A held %d deliveries; %d of %d recorded sent",
		cr.at.Sub(began).Round(time.Millisecond), cr.messageID, len(inKilledCall), held, atCrash.Sent, people)
	require.LessOrEqual(t, held, bound, "A never held more than concurrency × unit deliveries")
	// B takes A's unfinished deliveries over once A's leases lapse, and
	// sends them as it sends any (in batches: a delivery claimed again is
	// no retry), within the lease plus B's poll (1 s) and a unit's work.
	heldIDs := c.heldIDs(t, a.pid)
	for c.queuedAmong(t, heldIDs) > 0 {
		require.Less(t, time.Since(cr.at), lease+30*time.Second, "B never sent A's deliveries")
		time.Sleep(20 * time.Millisecond) // polling the database for the condition
	}
	takeover := time.Since(cr.at)
	t.Logf("B sent A's %d unfinished deliveries %v after the kill (lease %v)", held, takeover.Round(time.Millisecond), lease)
	require.Less(t, takeover, lease+2*time.Second, "taken over within the lease plus the poll")

	final := b.waitFinished(t, tok, send.ID, 45*time.Second)
	elapsed := time.Since(began)
	require.Equal(t, "COMPLETED", final.Status)
	require.Equal(t, people, final.Sent, "sent = total after the takeover: %+v", final)
	require.Zero(t, final.Failed+final.Skipped, "%+v", final)

	dups := c.requireDelivered(t, emails, bound, mgA, mgB)
	c.requireSettled(t, people)
	twice, counts := 0, received(mgA, mgB)
	for e := range inKilledCall {
		if counts[e] == 2 {
			twice++
		}
	}
	// Someone emailed twice holds two links; the second replaced the first.
	checked := 0
	for e := range inKilledCall {
		if counts[e] != 2 || checked == 3 {
			continue
		}
		checked++
		first, second := onlyMessageTo(t, mgA, e), onlyMessageTo(t, mgB, e)
		require.Equal(t, "INVALID_TOKEN", b.invitationCode(t, linkToken(t, first)), "%s: the link A sent was revoked when B took over", e)
		require.Empty(t, b.invitationCode(t, linkToken(t, second)), "%s: the link B sent works", e)
	}
	t.Logf("send finished %v after it began; %d recipients got two emails (bound %d = %d workers × unit %d); %d of the killed call's %d got a second; A sent %d, B sent %d",
		elapsed.Round(time.Millisecond), dups, bound, concurrency, min(maxBatch, rate), twice, len(inKilledCall),
		mgA.Recipients(), mgB.Recipients())
}

// TestRestartResumes kills the only replica mid-send and starts it again on
// the same database: the send completes, nobody is lost, and duplicates stay
// within the bound.
func TestRestartResumes(t *testing.T) {
	c := newCluster(t)
	const people, rate, concurrency = 1500, 300, 2
	bound := inFlightBound(concurrency, rate)
	mg := newProvider(t, "key", nil)
	cfg := replicaConfig{name: "first", provider: mg, rate: rate, concurrency: concurrency}
	first := c.startAll(cfg)[0]
	emails := c.seed(t, people)
	tok := first.login(t)

	began := time.Now()
	send := first.startSend(t, tok)
	require.Equal(t, people, send.Total)

	// Kill once the provider has some but well under all.
	deadline := time.Now().Add(30 * time.Second)
	for n := mg.Recipients(); n == 0; n = mg.Recipients() {
		if time.Now().After(deadline) {
			t.Fatalf("nothing was sent within 30s; send: %+v", first.bulkSend(t, tok, send.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, first.kill())
	killedAfter := time.Since(began)
	atCrash := mg.Recipients()
	require.Less(t, atCrash, people, "killed mid-send")
	held := c.heldBy(t, first.pid)
	require.LessOrEqual(t, held, bound, "the replica never held more than concurrency × unit deliveries")

	cfg.name = "restarted"
	restarted := c.startAll(cfg)[0]
	final := restarted.waitFinished(t, tok, send.ID, 45*time.Second)
	elapsed := time.Since(began)
	require.Equal(t, "COMPLETED", final.Status)
	require.Equal(t, people, final.Sent, "%+v", final)
	require.Zero(t, final.Failed+final.Skipped, "%+v", final)

	dups := c.requireDelivered(t, emails, bound, mg)
	c.requireSettled(t, people)
	t.Logf("killed %v after the send began with %d of %d accepted by the provider and %d deliveries held; restarted replica finished %v after the start; %d recipients got two emails (bound %d)",
		killedAfter.Round(time.Millisecond), atCrash, people, held, elapsed.Round(time.Millisecond), dups, bound)
}

// TestKilledReplicaWebhooksAreDelivered: a replica is killed with SIGKILL
// inside a webhook call, with most of a send's events not yet delivered
// (nor even written: the send is still going). A replica started afterwards
// delivers every event of the log to the endpoint; the only repeats are
// calls the dead replica had in flight, at most ROLLCALL_WEBHOOK_CONCURRENCY.
func TestKilledReplicaWebhooksAreDelivered(t *testing.T) {
	c := newCluster(t)
	const people, hookConcurrency = 300, 4
	var victim atomic.Pointer[replica]
	var mu sync.Mutex
	calls := map[string]int{} // webhook-id → calls
	var total atomic.Int32
	killed := make(chan error, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		calls[r.Header.Get("webhook-id")]++
		mu.Unlock()
		if v := victim.Load(); v != nil && total.Add(1) == 5 {
			killed <- v.kill() // the caller dies before it hears the answer
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	mg := newProvider(t, "key", nil)
	cfg := replicaConfig{name: "A", provider: mg, rate: 100, concurrency: 1, env: []string{
		"ROLLCALL_WEBHOOK_ALLOW_PRIVATE=true",
		"ROLLCALL_WEBHOOK_LEASE=" + lease.String(),
		"ROLLCALL_WEBHOOK_CONCURRENCY=" + strconv.Itoa(hookConcurrency),
	}}
	a := c.startAll(cfg)[0]
	c.seed(t, people)
	tok := a.login(t)
	var ep struct {
		CreateWebhookEndpoint struct{ Secret string }
	}
	a.graphql(t, tok, `mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) { secret } }`,
		map[string]any{"url": receiver.URL}, &ep)
	require.NotEmpty(t, ep.CreateWebhookEndpoint.Secret)
	victim.Store(a)
	send := a.startSend(t, tok)

	select {
	case err := <-killed:
		require.NoError(t, err, "kill A")
	case <-time.After(30 * time.Second):
		t.Fatal("A never made five webhook calls")
	}
	mu.Lock()
	atKill := len(calls)
	mu.Unlock()

	cfg.name = "restarted"
	restarted := c.startAll(cfg)[0]
	final := restarted.waitFinished(t, tok, send.ID, 60*time.Second)
	require.Equal(t, people, final.Sent, "%+v", final)

	// Every event of the log reaches the endpoint.
	var logged []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids, err := c.db.Client.Event.Query().IDs(auth.AsSystem(context.Background()))
		require.NoError(t, err)
		logged = logged[:0]
		missing := 0
		mu.Lock()
		for _, id := range ids {
			logged = append(logged, strconv.Itoa(id))
			if calls[strconv.Itoa(id)] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d of %d events never reached the endpoint", missing, len(ids))
		time.Sleep(20 * time.Millisecond)
	}
	require.Greater(t, len(logged), people, "an invitation.sent per person, and the send's completion")
	mu.Lock()
	defer mu.Unlock()
	repeats := 0
	for id, n := range calls {
		require.Contains(t, logged, id, "a call for an event not in the log")
		repeats += n - 1
	}
	require.LessOrEqual(t, repeats, hookConcurrency, "only calls in flight at the kill are repeated")
	t.Logf("killed with %d of %d events delivered; after the restart all %d arrived, %d of them twice (bound %d)",
		atKill, len(logged), len(logged), repeats, hookConcurrency)
}

// TestGracefulStopHandsBackItsClaim stops a replica with SIGTERM while the
// COMMIT of the transaction claiming its next unit is in flight. Run
// documents that stopping workers finish the unit in hand, "sending what it
// can, handing back the rest"; but the claim runs on the workers' context,
// so when that context ends during the COMMIT, pgx gives up waiting and
// reports an error though PostgreSQL committed. The worker drops the unit
// (and the error, as the context has ended): the deliveries stay leased to a
// process that is gone until the lease lapses (30s by default), an attempt
// spent on each.
//
// A proxy between the replica and PostgreSQL holds back the answer to that
// COMMIT, so the stop lands inside it every time; without the proxy the
// window is the COMMIT's round trip (about one graceful stop in eight hit it
// under load here).
func TestGracefulStopHandsBackItsClaim(t *testing.T) {
	c := newCluster(t)
	proxy := newPGProxy(t, c.dbURL)
	mg := newProvider(t, "key", nil)
	a := c.startAll(replicaConfig{name: "A", provider: mg, rate: 100, concurrency: 1, databaseURL: proxy.url})[0]
	c.seed(t, 300)
	tok := a.login(t)

	proxy.arm()
	a.startSend(t, tok)
	select {
	case <-proxy.holding:
	case <-time.After(20 * time.Second):
		t.Fatal("no claim committed within 20s")
	}
	c.waitFor(t, "the claim to commit", fmt.Sprintf(`SELECT count(*) FROM deliveries WHERE leased_by LIKE '%%-%d-%%'`, a.pid),
		func(n int) bool { return n > 0 })
	require.NoError(t, a.cmd.Process.Signal(os.Interrupt))
	// Once A stops listening its workers are being stopped: a worker that
	// gives up on the COMMIT lets A exit now; one that waits for it (the
	// fix) needs the answer, so let it through after a moment.
	a.waitRefusing(t, 15*time.Second)
	select {
	case <-a.exited:
	case <-time.After(time.Second):
	}
	proxy.release()
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("A did not stop within 15s of SIGTERM")
	}
	require.NoError(t, a.err, "A stopped cleanly")

	held := c.heldBy(t, a.pid)
	var spent int
	require.NoError(t, c.db.SQL.QueryRow(`SELECT count(*) FROM deliveries WHERE status = 'QUEUED' AND attempts > 0`).Scan(&spent))
	t.Logf("after a graceful stop during a claim's COMMIT: %d deliveries still leased to the stopped replica, %d queued with an attempt spent", held, spent)
	require.Zero(t, held, "a stopped replica hands back what it claimed (internal/bulksend worker.go claimUnit runs db.InTx on the workers' ctx)")
	require.Zero(t, spent, "no attempt is spent on deliveries never tried")
}

// TestGracefulStopWhileReadingTemplates stops a replica with SIGTERM while
// its worker reads the email templates for the unit it claimed (the test
// holds a lock on email_templates so the read waits). The unit is sent or
// handed back, never failed, and nothing stays leased.
func TestGracefulStopWhileReadingTemplates(t *testing.T) {
	c := newCluster(t)
	mg := newProvider(t, "key", nil)
	a := c.startAll(replicaConfig{name: "A", provider: mg, rate: 100, concurrency: 1})[0]
	c.seed(t, 300)
	tok := a.login(t)

	ctx := context.Background()
	conn, err := c.db.SQL.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	_, err = tx.ExecContext(ctx, `LOCK TABLE email_templates IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	a.startSend(t, tok)
	c.waitFor(t, "a worker reading templates", `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%email_templates%'`,
		func(n int) bool { return n > 0 })
	require.NoError(t, a.cmd.Process.Signal(os.Interrupt))
	// Once A stops listening its workers are being stopped; give a worker
	// that would fail the unit on a cancelled read the chance to, then let
	// the read through.
	a.waitRefusing(t, 15*time.Second)
	select {
	case <-a.exited:
	case <-time.After(time.Second):
	}
	require.NoError(t, tx.Rollback())
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("A did not stop within 15s of SIGTERM")
	}
	require.NoError(t, a.err, "A stopped cleanly")

	byStatus := map[string]int{}
	rows, err := c.db.SQL.Query(`SELECT status || ' ' || coalesce(error, ''), count(*) FROM deliveries GROUP BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		require.NoError(t, rows.Scan(&k, &n))
		byStatus[k] = n
	}
	require.NoError(t, rows.Err())
	var failed, held, spent int
	require.NoError(t, c.db.SQL.QueryRow(`SELECT
		count(*) FILTER (WHERE status = 'FAILED'),
		count(*) FILTER (WHERE leased_by IS NOT NULL),
		count(*) FILTER (WHERE status = 'QUEUED' AND attempts > 0) FROM deliveries`).Scan(&failed, &held, &spent))
	t.Logf("deliveries after a graceful stop during a template read: %v; provider accepted %d", byStatus, mg.Recipients())
	require.Zero(t, failed, "a graceful stop fails nobody")
	require.Zero(t, held, "nothing stays leased")
	require.Zero(t, spent, "what was not sent was handed back")
}

// --- the binary -------------------------------------------------------------

// build is cmd/rollcall, built once per test process by TestMain.
var build struct {
	dir  string
	path string
	skip string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	if testdb.Postgres() {
		buildRollcall()
	}
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// buildRollcall builds cmd/rollcall into a temporary directory.
func buildRollcall() {
	goBin, err := exec.LookPath("go")
	if err != nil {
		build.skip = "replica tests build cmd/rollcall, and the go command is not available: " + err.Error()
		return
	}
	gomod, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		build.err, build.out = fmt.Errorf("go env GOMOD: %v", err), gomod
		return
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if build.dir, err = os.MkdirTemp("", "rollcall-replicas-"); err != nil {
		build.err = err
		return
	}
	build.path = filepath.Join(build.dir, "rollcall")
	cmd := exec.Command(goBin, "build", "-o", build.path, "./cmd/rollcall")
	cmd.Dir = root
	build.out, build.err = cmd.CombinedOutput()
}

// rollcallBinary returns the built server, skipping when it could not be
// built for want of the go command.
func rollcallBinary(t *testing.T) string {
	t.Helper()
	if build.skip != "" {
		t.Skip(build.skip)
	}
	if build.err != nil {
		t.Fatalf("build cmd/rollcall: %v\n%s", build.err, build.out)
	}
	return build.path
}

// --- replicas ---------------------------------------------------------------

// cluster is one fresh PostgreSQL database and the replicas serving it.
type cluster struct {
	t     *testing.T
	bin   string
	dbURL string
	db    *db.DB
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	if !testdb.Postgres() {
		t.Skip("replica tests need PostgreSQL: set ROLLCALL_TEST_DATABASE_URL=postgres://…")
	}
	bin := rollcallBinary(t)
	c := &cluster{t: t, bin: bin, dbURL: testdb.DatabaseURL(t)}
	d, err := db.Open(context.Background(), c.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	c.db = d
	return c
}

type replicaConfig struct {
	name        string
	provider    *provider
	rate        int      // ROLLCALL_SEND_RATE
	concurrency int      // ROLLCALL_SEND_CONCURRENCY
	databaseURL string   // default the cluster's database
	env         []string // more settings, NAME=value
}

// replica is one `rollcall serve` process.
type replica struct {
	name   string
	url    string
	pid    int
	cmd    *exec.Cmd
	out    *logBuffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startAll starts the replicas together (they migrate and bootstrap under
// the server's lock) and waits until each is ready.
func (c *cluster) startAll(cfgs ...replicaConfig) []*replica {
	c.t.Helper()
	rs := make([]*replica, len(cfgs))
	for i, cfg := range cfgs {
		rs[i] = c.launch(cfg)
	}
	for i, cfg := range cfgs {
		for attempt := 1; ; attempt++ {
			err := rs[i].waitReady(30 * time.Second)
			if err == nil {
				break
			}
			if attempt < 3 && !rs[i].running() && strings.Contains(rs[i].out.String(), "address already in use") {
				rs[i] = c.launch(cfg) // lost the free port to someone else
				continue
			}
			c.t.Fatalf("replica %s not ready: %v\n%s", cfg.name, err, rs[i].out.Tail(20000))
		}
	}
	return rs
}

// launch starts a replica on a free loopback port.
func (c *cluster) launch(cfg replicaConfig) *replica {
	t := c.t
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	dbURL := cmp.Or(cfg.databaseURL, c.dbURL)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "ROLLCALL_") })
	env = append(env,
		"ROLLCALL_ADDR="+addr,
		"ROLLCALL_DATABASE_URL="+dbURL,
		"ROLLCALL_PUBLIC_URL=http://"+addr,
		"ROLLCALL_MAILER=mailgun",
		"ROLLCALL_MAILGUN_DOMAIN="+mailDomain,
		"ROLLCALL_MAILGUN_API_KEY="+cfg.provider.key,
		"ROLLCALL_MAILGUN_API_BASE="+cfg.provider.base,
		"ROLLCALL_MAIL_FROM=rollcall@example.net",
		"ROLLCALL_OUTBOX_DIR="+t.TempDir(),
		"ROLLCALL_SEND_RATE="+strconv.Itoa(cfg.rate),
		"ROLLCALL_SEND_CONCURRENCY="+strconv.Itoa(cfg.concurrency),
		"ROLLCALL_SEND_LEASE="+lease.String(),
		"ROLLCALL_BOOTSTRAP_ORG="+orgSlug,
		"ROLLCALL_BOOTSTRAP_EMAIL="+ownerEmail,
		"ROLLCALL_BOOTSTRAP_PASSWORD="+ownerPassword,
		"ROLLCALL_SHUTDOWN_TIMEOUT=2s",
		"ROLLCALL_LOG_LEVEL=info",
	)
	env = append(env, cfg.env...)
	r := &replica{name: cfg.name, url: "http://" + addr, out: &logBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(c.bin, "serve")
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	require.NoError(t, r.cmd.Start(), "start replica %s", cfg.name)
	r.pid = r.cmd.Process.Pid
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() || os.Getenv("ROLLCALL_TEST_LOG") != "" {
			t.Logf("--- replica %s (pid %d, %s) output ---\n%s", r.name, r.pid, r.url, r.out.Tail(30000))
		}
	})
	return r
}

func (r *replica) running() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL and waits until it is gone.
func (r *replica) kill() error {
	if err := r.cmd.Process.Kill(); err != nil && r.running() {
		return fmt.Errorf("kill replica %s: %w", r.name, err)
	}
	<-r.exited
	return nil
}

// stop asks the process to shut down, killing it if it takes too long.
func (r *replica) stop() {
	if !r.running() {
		return
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.kill()
	}
}

// waitReady polls GET /readyz until it answers 200.
func (r *replica) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if !r.running() {
			return fmt.Errorf("exited: %v", r.err)
		}
		resp, err := client.Get(r.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /readyz not 200 within %v (last error %v)", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRefusing waits until the replica no longer accepts connections.
func (r *replica) waitRefusing(t *testing.T, timeout time.Duration) {
	t.Helper()
	addr := strings.TrimPrefix(r.url, "http://")
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("replica %s still accepts connections after %v", r.name, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logBuffer collects a process's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns about the last n bytes.
func (b *logBuffer) Tail(n int) string {
	s := b.String()
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}

// --- the provider -----------------------------------------------------------

// provider is a fake Mailgun on loopback.
type provider struct {
	*fakemailgun.Server
	key, base string
}

// newProvider serves a fake Mailgun taking key; wrap, when set, wraps its
// handler.
func newProvider(t *testing.T, key string, wrap func(http.Handler) http.Handler) *provider {
	t.Helper()
	mg := fakemailgun.New(fakemailgun.Options{Domain: mailDomain, APIKey: key, Record: true})
	var h http.Handler = mg
	if wrap != nil {
		h = wrap(mg)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &provider{Server: mg, key: key, base: ts.URL + "/v3"}
}

// captureWriter keeps a copy of the status and body it passes on.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *captureWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *captureWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// received adds up, per address, the copies the providers accepted.
func received(ps ...*provider) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		for addr, n := range p.Counts() {
			out[addr] += n
		}
	}
	return out
}

// onlyMessageTo returns the one message p accepted for addr.
func onlyMessageTo(t *testing.T, p *provider, addr string) fakemailgun.Message {
	t.Helper()
	ms := p.MessagesTo(addr)
	require.Len(t, ms, 1, "messages to %s", addr)
	return ms[0]
}

var tokenPattern = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// linkToken returns the token of the invitation link in m.
func linkToken(t *testing.T, m fakemailgun.Message) string {
	t.Helper()
	match := tokenPattern.FindStringSubmatch(m.Text)
	require.NotNil(t, match, "a link in the email to %s:\n%s", m.To, m.Text)
	return match[1]
}

// --- a PostgreSQL proxy ---------------------------------------------------

// pgProxy forwards connections to the test's PostgreSQL server. Armed, it
// holds back PostgreSQL's answer to the COMMIT of the next transaction that
// claimed deliveries (ran the claim, "WITH picked AS ..."): the transaction
// has committed, the client does not know yet. release lets it through.
type pgProxy struct {
	url         string // the test database's URL, through the proxy
	target      string
	armed       atomic.Bool
	holding     chan struct{} // closed once an answer is held back
	holdOnce    sync.Once
	gate        chan struct{} // closed by release
	releaseOnce sync.Once
}

func newPGProxy(t *testing.T, databaseURL string) *pgProxy {
	t.Helper()
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &pgProxy{target: u.Host, holding: make(chan struct{}), gate: make(chan struct{})}
	through := *u
	through.Host = ln.Addr().String()
	p.url = through.String()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c ...net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c...)
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(client, track) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.release()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// arm makes the proxy hold back the next claim's COMMIT answer.
func (p *pgProxy) arm() { p.armed.Store(true) }

// release lets held-back answers through.
func (p *pgProxy) release() { p.releaseOnce.Do(func() { close(p.gate) }) }

// serve forwards one connection.
func (p *pgProxy) serve(client net.Conn, track func(...net.Conn)) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	track(client, server)
	var withhold atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				if withhold.Load() {
					<-p.gate
				}
				if _, err := client.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		client.Close()
		server.Close()
	}()
	p.forwardClient(client, server, &withhold)
	client.Close()
	server.Close()
	<-done
}

// forwardClient copies the client's messages to the server, following the
// extended and simple query protocols just enough to see a claiming
// transaction commit.
func (p *pgProxy) forwardClient(client, server net.Conn, withhold *atomic.Bool) {
	r := bufio.NewReader(client)
	statements := map[string]string{} // prepared statement name → SQL
	claiming := false
	startup := true // the first messages have no type byte
	// The bulk-send engine's claim; the other queues' claims (webhooks,
	// reset requests) run outside transactions and must not arm the hold.
	isClaim := func(sql string) bool {
		return strings.Contains(sql, "WITH picked AS") && strings.Contains(sql, "UPDATE deliveries d SET leased_by")
	}
	for {
		var head []byte
		if startup {
			head = make([]byte, 4)
		} else {
			head = make([]byte, 5)
		}
		if _, err := io.ReadFull(r, head); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(head[len(head)-4:])
		if size < 4 || size > 1<<30 {
			return
		}
		body := make([]byte, size-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if startup {
			// SSLRequest and GSSENCRequest are followed by the startup
			// message; anything else starts the typed messages.
			if len(body) < 4 || (binary.BigEndian.Uint32(body) != 80877103 && binary.BigEndian.Uint32(body) != 80877104) {
				startup = false
			}
		} else {
			switch head[0] {
			case 'P': // Parse: name, query, ...
				name, rest, _ := bytes.Cut(body, []byte{0})
				query, _, _ := bytes.Cut(rest, []byte{0})
				statements[string(name)] = string(query)
				claiming = claiming || isClaim(string(query))
			case 'B': // Bind: portal, statement, ...
				_, rest, _ := bytes.Cut(body, []byte{0})
				name, _, _ := bytes.Cut(rest, []byte{0})
				claiming = claiming || isClaim(statements[string(name)])
			case 'Q': // simple query
				query, _, _ := bytes.Cut(body, []byte{0})
				sql := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(query)), ";")))
				claiming = claiming || isClaim(string(query))
				if sql == "commit" || sql == "rollback" {
					if sql == "commit" && claiming && p.armed.CompareAndSwap(true, false) {
						withhold.Store(true)
						p.holdOnce.Do(func() { close(p.holding) })
					}
					claiming = false
				}
			}
		}
		if _, err := server.Write(append(head, body...)); err != nil {
			return
		}
	}
}

// --- the database -----------------------------------------------------------

// seed adds n NOT_INVITED Members to the bootstrap organisation and returns
// their addresses.
func (c *cluster) seed(t *testing.T, n int) []string {
	t.Helper()
	ctx := auth.AsSystem(context.Background())
	client := c.db.Client
	o, err := client.Organization.Query().Where(organization.Slug(orgSlug)).Only(ctx)
	require.NoError(t, err, "the bootstrap organisation")
	member, err := client.Role.Query().Where(role.OrganizationID(o.ID), role.Name("Member")).Only(ctx)
	require.NoError(t, err, "the Member role")
	now := time.Now()
	emails := make([]string, n)
	for from := 0; from < n; from += 500 {
		var creates []*ent.UserCreate
		for i := from; i < min(n, from+500); i++ {
			emails[i] = fmt.Sprintf("person%05d@example.com", i)
			creates = append(creates, client.User.Create().SetOrganizationID(o.ID).SetRoleID(member.ID).
				SetEmail(emails[i]).SetEmailNormalized(emails[i]).SetStatus(user.StatusNotInvited).
				SetFirstName(fmt.Sprintf("Person %d", i)).SetCreatedAt(now).SetUpdatedAt(now))
		}
		require.NoError(t, client.User.CreateBulk(creates...).Exec(ctx), "seed people")
	}
	return emails
}

// waitFor polls a count query until ok accepts its result.
func (c *cluster) waitFor(t *testing.T, what, query string, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		require.NoError(t, c.db.SQL.QueryRow(query).Scan(&n))
		if ok(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s (last count %d)", what, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// heldBy counts the queued deliveries leased to the process pid (a replica
// names its claims host-pid-random).
func (c *cluster) heldBy(t *testing.T, pid int) int {
	t.Helper()
	n, err := c.db.Client.Delivery.Query().Where(delivery.StatusEQ(enum.DeliveryQueued),
		delivery.LeasedByContains(fmt.Sprintf("-%d-", pid))).Count(auth.AsSystem(context.Background()))
	require.NoError(t, err)
	return n
}

// heldIDs lists the queued deliveries leased to the replica with pid.
func (c *cluster) heldIDs(t *testing.T, pid int) []int {
	t.Helper()
	ids, err := c.db.Client.Delivery.Query().Where(delivery.StatusEQ(enum.DeliveryQueued),
		delivery.LeasedByContains(fmt.Sprintf("-%d-", pid))).IDs(auth.AsSystem(context.Background()))
	require.NoError(t, err)
	return ids
}

// queuedAmong counts the deliveries of ids still queued.
func (c *cluster) queuedAmong(t *testing.T, ids []int) int {
	t.Helper()
	n, err := c.db.Client.Delivery.Query().Where(delivery.IDIn(ids...), delivery.StatusEQ(enum.DeliveryQueued)).
		Count(auth.AsSystem(context.Background()))
	require.NoError(t, err)
	return n
}

// requireSettled checks that the send's n deliveries are all SENT and
// nobody holds any of them.
func (c *cluster) requireSettled(t *testing.T, n int) {
	t.Helper()
	ctx := auth.AsSystem(context.Background())
	sent, err := c.db.Client.Delivery.Query().Where(delivery.StatusEQ(enum.DeliverySent)).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, n, sent, "deliveries SENT")
	leased, err := c.db.Client.Delivery.Query().Where(delivery.LeasedByNotNil()).Count(ctx)
	require.NoError(t, err)
	require.Zero(t, leased, "no delivery is still leased")
	finished, err := c.db.Client.BulkSend.Query().Where(bulksend.FinishedAtNotNil()).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, finished)
	invited, err := c.db.Client.User.Query().Where(user.StatusEQ(user.StatusInvited), user.InvitationCount(1)).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, n, invited, "everyone INVITED, counted once")
}

// requireDelivered checks that everyone in emails got at least one email,
// nobody else got any, at most bound people got two and nobody more than
// two, and that those who got two are deliveries claimed twice (taken over
// after a crash). It returns how many got two.
func (c *cluster) requireDelivered(t *testing.T, emails []string, bound int, ps ...*provider) int {
	t.Helper()
	counts := received(ps...)
	claimedTwice := map[string]bool{}
	ds, err := c.db.Client.Delivery.Query().Where(delivery.AttemptsGTE(2)).All(auth.AsSystem(context.Background()))
	require.NoError(t, err)
	for _, d := range ds {
		claimedTwice[d.Email] = true
	}
	dups := 0
	for _, e := range emails {
		n := counts[e]
		require.GreaterOrEqual(t, n, 1, "nobody is lost: emails to %s", e)
		require.LessOrEqual(t, n, 2, "emails to %s", e)
		if n == 2 {
			dups++
			require.True(t, claimedTwice[e], "%s got two emails but its delivery was claimed once", e)
		}
	}
	require.Len(t, counts, len(emails), "nobody else was emailed")
	require.LessOrEqual(t, dups, bound, "people emailed twice, at most the deliveries in flight at the crash")
	require.LessOrEqual(t, len(claimedTwice), bound, "deliveries claimed twice")
	return dups
}

// --- the API ----------------------------------------------------------------

type bulkSendState struct {
	ID, Status                   string
	Total, Sent, Failed, Skipped int
	FinishedAt                   *time.Time
}

const bulkSendFields = `id status total sent failed skipped finishedAt`

var apiClient = &http.Client{Timeout: 15 * time.Second}

// graphql posts a query and decodes its data into out, failing on errors.
func (r *replica) graphql(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	errs := r.try(t, token, query, vars, out)
	require.Empty(t, errs, "replica %s: GraphQL errors", r.name)
}

type gqlError struct {
	Message    string
	Extensions map[string]any
}

// try posts a query, decodes its data into out and returns its errors.
func (r *replica) try(t *testing.T, token, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, r.url+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := apiClient.Do(req)
	require.NoError(t, err, "POST %s/graphql (replica %s)", r.url, r.name)
	defer resp.Body.Close()
	var res struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res), "replica %s: status %d", r.name, resp.StatusCode)
	if len(res.Data) > 0 && string(res.Data) != "null" {
		require.NoError(t, json.Unmarshal(res.Data, out))
	}
	return res.Errors
}

func (r *replica) login(t *testing.T) string {
	t.Helper()
	var out struct{ Login struct{ Token string } }
	r.graphql(t, "", `mutation($o: String!, $l: String!, $p: String!) {
		login(input: {organization: $o, login: $l, password: $p}) { token } }`,
		map[string]any{"o": orgSlug, "l": ownerEmail, "p": ownerPassword}, &out)
	require.NotEmpty(t, out.Login.Token)
	return out.Login.Token
}

// startSend invites everyone NOT_INVITED.
func (r *replica) startSend(t *testing.T, token string) bulkSendState {
	t.Helper()
	var out struct {
		SendInvitations struct {
			BulkSend *bulkSendState
			Total    int
		}
	}
	r.graphql(t, token, `mutation { sendInvitations(input: {where: {status: NOT_INVITED}}) {
		bulkSend { `+bulkSendFields+` } total } }`, nil, &out)
	require.NotNil(t, out.SendInvitations.BulkSend)
	return *out.SendInvitations.BulkSend
}

func (r *replica) bulkSend(t *testing.T, token, id string) bulkSendState {
	t.Helper()
	var out struct{ BulkSend *bulkSendState }
	r.graphql(t, token, `query($id: ID!) { bulkSend(id: $id) { `+bulkSendFields+` } }`, map[string]any{"id": id}, &out)
	require.NotNil(t, out.BulkSend, "bulk send %s", id)
	return *out.BulkSend
}

// waitFinished polls the send until it has finished.
func (r *replica) waitFinished(t *testing.T, token, id string, timeout time.Duration) bulkSendState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := r.bulkSend(t, token, id)
		if s.FinishedAt != nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("bulk send not finished within %v: %+v", timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// invitationCode looks a token up without spending it and returns the
// error code, "" when the link is valid.
func (r *replica) invitationCode(t *testing.T, token string) string {
	t.Helper()
	var out struct{ Invitation *struct{ Email string } }
	errs := r.try(t, "", `query($t: String!) { invitation(token: $t) { email } }`, map[string]any{"t": token}, &out)
	if len(errs) > 0 {
		code, _ := errs[0].Extensions["code"].(string)
		return code
	}
	if out.Invitation == nil {
		return "null"
	}
	return ""
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// subscription is what a bulkSendProgress subscriber received.
type subscription struct {
	events    []bulkSendState
	completed bool
	err       error
}

// subscribe opens bulkSendProgress(id) over graphql-transport-ws; the
// channel yields what arrived once the server completes the subscription
// or the connection fails.
func (r *replica) subscribe(t *testing.T, token, id string) <-chan subscription {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(r.url, "http")+"/graphql", nil)
	require.NoError(t, err, "dial replica %s", r.name)
	res.Body.Close()
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + token}}))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var ack wsMessage
	require.NoError(t, conn.ReadJSON(&ack))
	require.Equal(t, "connection_ack", ack.Type, "%s", ack.Payload)
	require.NoError(t, conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($id: ID!) { bulkSendProgress(id: $id) { ` + bulkSendFields + ` } }`,
		"variables": map[string]any{"id": id},
	}}))
	out := make(chan subscription, 1)
	go func() {
		var s subscription
		defer func() { out <- s }()
		for {
			if s.err = conn.SetReadDeadline(time.Now().Add(60 * time.Second)); s.err != nil {
				return
			}
			var m wsMessage
			if s.err = conn.ReadJSON(&m); s.err != nil {
				return
			}
			switch m.Type {
			case "ping":
				if s.err = conn.WriteJSON(map[string]any{"type": "pong"}); s.err != nil {
					return
				}
			case "pong", "ka":
			case "next":
				var p struct {
					Data   struct{ BulkSendProgress bulkSendState }
					Errors []any
				}
				if s.err = json.Unmarshal(m.Payload, &p); s.err != nil {
					return
				}
				if len(p.Errors) > 0 {
					s.err = fmt.Errorf("subscription errors: %s", m.Payload)
					return
				}
				s.events = append(s.events, p.Data.BulkSendProgress)
			case "complete":
				s.completed = true
				return
			default:
				s.err = fmt.Errorf("unexpected %s message: %s", m.Type, m.Payload)
				return
			}
		}
	}()
	return out
}
