package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/storetest"
)

// TestOutboxMatchesMemoryModel runs random sequences of outbox operations
// on the SQLite adapter and on the memory reference adapter and requires
// the same results after every step: claims, errors, counts, next due time,
// every call and its history. It is what keeps the outbox_heads table, which
// the memory adapter does not need, honest.
//
// One relay claims, with a lease longer than the run, because the adapters
// scope leases differently (SQLite: one lease for the active relay; memory:
// one per key) and the contract suite covers expiry and a second relay. Each
// adapter's lease tokens are its own; an outcome carries the token its
// adapter gave, or a stale one.
func TestOutboxMatchesMemoryModel(t *testing.T) {
	if raceEnabled && !flagGiven("rapid.checks") {
		require.NoError(t, flag.Set("rapid.checks", "8"))
	}
	dir := t.TempDir()
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		path := filepath.Join(dir, fmt.Sprintf("model-%d.db", runs))
		// NORMAL: the model checks logic, not durability, and fsyncs are slow.
		db, err := sqlite.Open(context.Background(), path, sqlite.WithSynchronous(true))
		require.NoError(rt, err)
		defer os.Remove(path)
		defer db.Close()
		raw, err := sql.Open("sqlite", path)
		require.NoError(rt, err)
		defer raw.Close()
		m := &model{db: db, raw: raw, mem: memory.New(), now: storetest.T0, seqs: map[string]int64{},
			tokMem: map[string]int64{}, tokDB: map[string]int64{}}
		rt.Repeat(map[string]func(*rapid.T){
			"enqueue": m.enqueue,
			"claim":   m.claim,
			"settle":  m.settle,
			"retry":   m.retry,
			"discard": m.discard,
			"prune":   m.prune,
			"advance": func(rt *rapid.T) {
				m.now = m.now.Add(time.Duration(rapid.IntRange(1, 3).Draw(rt, "seconds")) * time.Second)
			},
			"": m.check,
		})
	})
}

type model struct {
	db      *sqlite.DB
	raw     *sql.DB // the same file, to check outbox_heads itself
	mem     *memory.Store
	now     time.Time
	ids     []string         // every call enqueued
	claimed []string         // every call ever claimed
	seqs    map[string]int64 // each claimed call's Seq at its last claim
	tokMem  map[string]int64 // each claimed call's lease token in mem
	tokDB   map[string]int64 // and in db
}

// modelLease outlasts every run.
const modelLease = 24 * time.Hour

var (
	modelSites    = []string{storetest.SiteA.String(), storetest.SiteB.String()}
	modelEntities = []string{storetest.ID("e0000000", 1).String(), storetest.ID("e0000000", 2).String(), storetest.ID("e0000000", 3).String()}
)

func (m *model) enqueue(rt *rapid.T) {
	n := rapid.IntRange(1, 3).Draw(rt, "calls")
	calls := make([]application.Call, n)
	for i := range calls {
		site := rapid.SampledFrom(modelSites).Draw(rt, "site")
		entity := rapid.SampledFrom(modelEntities).Draw(rt, "entity")
		kind := rapid.SampledFrom([]application.CallKind{application.KindReport, application.KindCancel}).Draw(rt, "kind")
		trigger := rapid.SampledFrom([]string{"t1", "t2"}).Draw(rt, "trigger")
		id := storetest.ID("d0000000", len(m.ids)+1)
		m.ids = append(m.ids, id.String())
		calls[i] = application.Call{
			ID: id.String(), SiteID: site, OrderingKey: application.OrderingKey(site, entity), Kind: kind,
			TriggerKey: trigger, ExternalEntityID: entity, Cause: "model", CreatedAt: m.now,
		}
		if kind == application.KindReport {
			calls[i].Payload = []byte(fmt.Sprintf(`{"n":%d}`, len(m.ids)))
		}
	}
	enqueue := func(s application.Store) error {
		return s.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
			return tx.Enqueue(ctx, append([]application.Call(nil), calls...))
		})
	}
	require.NoError(rt, enqueue(m.mem))
	require.NoError(rt, enqueue(m.db))
}

func (m *model) claim(rt *rapid.T) {
	req := outbox.ClaimRequest{Relay: "model", Now: m.now, Limit: rapid.IntRange(1, 4).Draw(rt, "limit"), Lease: modelLease}
	want, err := m.mem.Claim(context.Background(), req)
	require.NoError(rt, err)
	got, err := m.db.Claim(context.Background(), req)
	require.NoError(rt, err)
	for i := range want {
		m.tokMem[want[i].ID] = want[i].Lease.Token
		want[i].Lease = outbox.Lease{}
	}
	for i := range got {
		m.tokDB[got[i].ID] = got[i].Lease.Token
		got[i].Lease = outbox.Lease{}
	}
	require.Equal(rt, want, got)
	for _, c := range got {
		m.claimed = append(m.claimed, c.ID)
		m.seqs[c.ID] = c.Seq
	}
}

func (m *model) settle(rt *rapid.T) {
	if len(m.claimed) == 0 {
		return // nothing claimed yet: this step settles nothing
	}
	n := rapid.IntRange(1, 3).Draw(rt, "outcomes")
	outcomes := make([]application.Outcome, n)
	stale := make([]bool, n)
	for i := range outcomes {
		o := application.Outcome{
			ID:        rapid.SampledFrom(m.claimed).Draw(rt, "id"),
			State:     rapid.SampledFrom(outbox.States()[:4]).Draw(rt, "state"),
			Attempted: rapid.Bool().Draw(rt, "attempted"),
			At:        m.now,
		}
		// Seq is a hint the outcome must be right without: its claimed
		// seq (stale if an operator retried the call since), none, or
		// another call's.
		switch rapid.IntRange(0, 3).Draw(rt, "seq") {
		case 0, 1:
			o.Seq = m.seqs[o.ID]
		case 2:
			o.Seq = m.seqs[rapid.SampledFrom(m.claimed).Draw(rt, "seq of")]
		}
		if o.State == application.StatePending {
			o.NextAttemptAt = m.now.Add(time.Duration(rapid.IntRange(0, 3).Draw(rt, "backoff")) * time.Second)
		}
		if o.State != application.StateDelivered && rapid.Bool().Draw(rt, "with error") {
			o.Err = &application.CallError{Status: 503, Code: "UNAVAILABLE", Message: "try later"}
		}
		outcomes[i] = o
		stale[i] = rapid.IntRange(0, 5).Draw(rt, "stale token") == 0
	}
	if rapid.IntRange(0, 9).Draw(rt, "unknown") == 0 {
		outcomes = append(outcomes, application.Outcome{ID: storetest.ID("f0000000", 1).String(), State: application.StateDelivered, At: m.now})
		stale = append(stale, false)
	}
	with := func(tokens map[string]int64) []application.Outcome {
		out := append([]application.Outcome(nil), outcomes...)
		for i := range out {
			out[i].Token = tokens[out[i].ID]
			if stale[i] {
				out[i].Token = -1
			}
		}
		return out
	}
	sameError(rt, m.mem.Settle(context.Background(), with(m.tokMem)), m.db.Settle(context.Background(), with(m.tokDB)))
}

// pick draws a site and a call ID (sometimes one that does not exist).
func (m *model) pick(rt *rapid.T) (site, id string) {
	site = rapid.SampledFrom(modelSites).Draw(rt, "site")
	id = storetest.ID("f0000000", 1).String()
	if len(m.ids) > 0 && rapid.IntRange(0, 9).Draw(rt, "unknown") > 0 {
		id = rapid.SampledFrom(m.ids).Draw(rt, "id")
	}
	return site, id
}

func (m *model) retry(rt *rapid.T) {
	site, id := m.pick(rt)
	sameError(rt, m.mem.Retry(context.Background(), site, id, m.now), m.db.Retry(context.Background(), site, id, m.now))
}

func (m *model) discard(rt *rapid.T) {
	site, id := m.pick(rt)
	sameError(rt, m.mem.Discard(context.Background(), site, id, m.now), m.db.Discard(context.Background(), site, id, m.now))
}

func (m *model) prune(rt *rapid.T) {
	before := m.now.Add(-time.Duration(rapid.IntRange(0, 3).Draw(rt, "age")) * time.Second)
	want, err := m.mem.Prune(context.Background(), before)
	require.NoError(rt, err)
	got, err := m.db.Prune(context.Background(), before)
	require.NoError(rt, err)
	require.Equal(rt, want, got)
}

// check compares everything an operator or the relay can observe.
func (m *model) check(rt *rapid.T) {
	ctx := context.Background()
	// No index keeps one head per key (schema version 3): every head is the
	// lowest pending call of its key, and every key with a pending call has
	// a head.
	var wrongHeads, heads, pendingKeys int
	require.NoError(rt, m.raw.QueryRowContext(ctx, `SELECT count(*) FROM outbox_heads AS h WHERE h.seq IS NOT
		(SELECT min(o.seq) FROM outbox AS o WHERE o.ordering_key = h.ordering_key AND o.state = 'pending'
		AND NOT EXISTS (SELECT 1 FROM outbox_delivered WHERE call_seq = o.seq))`).
		Scan(&wrongHeads))
	require.Zero(rt, wrongHeads, "heads that are not the lowest pending call of their key")
	// A head that says no call waits behind it (schema version 4) must be
	// right, or the next call of its key would never be sent.
	var blind int
	require.NoError(rt, m.raw.QueryRowContext(ctx, `SELECT count(*) FROM outbox_heads AS h WHERE h.more = 0 AND
		EXISTS (SELECT 1 FROM outbox AS o WHERE o.ordering_key = h.ordering_key AND o.seq > h.seq AND o.state = 'pending'
		AND NOT EXISTS (SELECT 1 FROM outbox_delivered WHERE call_seq = o.seq))`).
		Scan(&blind))
	require.Zero(rt, blind, "heads with more = 0 and a pending call behind them")
	require.NoError(rt, m.raw.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM outbox_heads),
		(SELECT count(DISTINCT ordering_key) FROM outbox WHERE state = 'pending'
			AND NOT EXISTS (SELECT 1 FROM outbox_delivered WHERE call_seq = outbox.seq))`).Scan(&heads, &pendingKeys))
	require.Equal(rt, pendingKeys, heads, "one head per key with pending calls")
	for _, site := range append([]string{""}, modelSites...) {
		want, err := m.mem.Stats(ctx, site)
		require.NoError(rt, err)
		got, err := m.db.Stats(ctx, site)
		require.NoError(rt, err)
		require.Equal(rt, want, got, "stats of site %q", site)
	}
	wantAt, wantOK, err := m.mem.NextDue(ctx)
	require.NoError(rt, err)
	gotAt, gotOK, err := m.db.NextDue(ctx)
	require.NoError(rt, err)
	require.Equal(rt, wantOK, gotOK, "next due exists")
	// A time bound by a lease differs by the scope of leases (see above):
	// only its being lease-bound must agree.
	leaseBound := func(at time.Time) bool { return at.After(m.now.Add(modelLease / 2)) }
	require.Equal(rt, leaseBound(wantAt), leaseBound(gotAt), "next due: want %v, got %v", wantAt, gotAt)
	if !leaseBound(wantAt) {
		require.True(rt, wantAt.Equal(gotAt), "next due: want %v, got %v", wantAt, gotAt)
	}

	wantList, err := m.mem.List(ctx, application.Filter{Limit: 1000})
	require.NoError(rt, err)
	gotList, err := m.db.List(ctx, application.Filter{Limit: 1000})
	require.NoError(rt, err)
	require.Equal(rt, wantList, gotList)
	for _, c := range wantList {
		want, err := m.mem.Get(ctx, c.SiteID, c.ID)
		require.NoError(rt, err)
		got, err := m.db.Get(ctx, c.SiteID, c.ID)
		require.NoError(rt, err)
		require.Equal(rt, want, got)
	}
}

// flagGiven reports whether a flag was set on the command line.
func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// sameError requires both adapters to fail alike: both nil, or both the
// same port error.
func sameError(rt *rapid.T, want, got error) {
	if want == nil {
		require.NoError(rt, got)
		return
	}
	require.Error(rt, got, "the reference adapter said: %v", want)
	for _, sentinel := range []error{application.ErrNotFound, application.ErrCallState, application.ErrConflict} {
		require.Equal(rt, errors.Is(want, sentinel), errors.Is(got, sentinel), "want %v, got %v", want, got)
	}
}
