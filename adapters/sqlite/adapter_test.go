package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/storetest"
	"github.com/bookable/lifecycle/domain"
)

var errRefused = errors.New("refused by the command")

// holdWriter keeps the writer busy until the returned release function is
// called, so that the writes started meanwhile queue up and are gathered
// into one batch.
func holdWriter(t *testing.T, db *sqlite.DB) (release func()) {
	t.Helper()
	held := sqlite.HoldWriter(db)
	return func() { require.NoError(t, held()) }
}

// waitQueued waits until n writes are waiting for the writer.
func waitQueued(t *testing.T, db *sqlite.DB, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return db.WriterStats().Waiting >= n }, 20*time.Second, time.Millisecond)
}

func TestGroupCommitIsolatesEachCommand(t *testing.T) {
	// Commands run their function on their own goroutine, so a refused or
	// panicking command never reaches the writer. A command whose writes
	// fail when applied (here: its second write inserts an appointment that
	// exists) must roll back alone, with its first write, while the rest of
	// its batch commits.
	db := open(t)
	ctx := context.Background()
	taken := storetest.NewAppointment(t, storetest.SiteA, 1000)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, taken) }))
	const n = 40
	release := holdWriter(t, db)
	before := db.WriterStats()

	results := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
				a := storetest.NewAppointment(t, storetest.SiteA, i)
				if err := tx.SaveAppointment(ctx, a); err != nil {
					return err
				}
				switch {
				case i%5 == 1:
					return errRefused // after writing: nothing of it may be kept
				case i%5 == 3:
					return tx.SaveAppointment(ctx, storetest.NewAppointment(t, storetest.SiteA, 1000))
				case i == 7:
					panic("boom")
				}
				return nil
			})
		}()
	}
	refused, panicked, conflicting := n/5, 1, n/5
	waitQueued(t, db, int64(n-refused-panicked))
	release()
	wg.Wait()

	stats := db.WriterStats()
	assert.Greater(t, stats.MaxBatch, int64(1), "queued writes were gathered into one transaction")
	// Every write set, and a second run in the writer of each command whose
	// writes conflicted (the held write was counted before).
	assert.Equal(t, int64(n-refused-panicked+conflicting), stats.Writes-before.Writes)

	err := db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		for i := range n {
			_, getErr := tx.Appointment(ctx, storetest.SiteA, storetest.ID("a1000000", i))
			switch {
			case i%5 == 1:
				assert.ErrorIs(t, results[i], errRefused, "command %d", i)
				assert.ErrorIs(t, getErr, application.ErrNotFound, "refused command %d was rolled back", i)
			case i%5 == 3:
				assert.ErrorIs(t, results[i], application.ErrConflict, "command %d", i)
				assert.ErrorIs(t, getErr, application.ErrNotFound, "conflicting command %d was rolled back", i)
			case i == 7:
				var p *sqlite.PanicError
				require.ErrorAs(t, results[i], &p, "command %d", i)
				assert.Equal(t, "boom", p.Value)
				assert.ErrorIs(t, getErr, application.ErrNotFound, "panicked command %d was rolled back", i)
			default:
				assert.NoError(t, results[i], "command %d", i)
				assert.NoError(t, getErr, "command %d was committed", i)
			}
		}
		return nil
	})
	require.NoError(t, err)
}

func TestGroupCommitSeesEarlierCommandsOfItsBatch(t *testing.T) {
	// Ten commands read the same version of one appointment and their
	// writes meet in one batch: the first applies, the version check
	// refuses the others inside the batch, and each of them runs again in
	// the writer on top of the previous one. None fails, none is lost.
	db := open(t)
	ctx := context.Background()
	a := storetest.NewAppointment(t, storetest.SiteA, 1)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) }))

	release := holdWriter(t, db)
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
				got, err := tx.Appointment(ctx, storetest.SiteA, a.ID())
				if err != nil {
					return err
				}
				start := storetest.T0.Add(time.Duration(72+i) * time.Hour)
				if err := got.Reschedule(start, start.Add(time.Hour), storetest.T0); err != nil {
					return err
				}
				return tx.SaveAppointment(ctx, got)
			})
		}()
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "command %d", i)
	}
	require.NoError(t, db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, storetest.SiteA, a.ID())
		require.NoError(t, err)
		assert.Equal(t, int64(1+n), got.Version(), "every reschedule saved on top of the previous one")
		return nil
	}))
}

func TestGroupCommitAppliesWriteSetsTogether(t *testing.T) {
	// Write sets of one batch are applied without a savepoint each and
	// their calls go to the outbox together. A write set refused by its
	// first write fails alone; a duplicate call ID makes the writer apply
	// them again one by one, and only its owner fails. Either way each key
	// gets its right head.
	for _, tc := range []struct {
		name      string
		duplicate int // the command that enqueues a call ID already taken; -1: none
	}{
		{"conflicts on the first write only", -1},
		{"a duplicate call ID", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			shared := storetest.ID("e0000000", 999)
			first := newCall(storetest.SiteA.String(), 1, shared.String(), application.KindReport, "t")
			taken := storetest.NewAppointment(t, storetest.SiteA, 1000)
			require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
				if err := tx.SaveAppointment(ctx, taken); err != nil {
					return err
				}
				return tx.Enqueue(ctx, []application.Call{first})
			}))

			const n = 12
			refused := func(i int) bool { return i%4 == 2 }
			release := holdWriter(t, db)
			results := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
						// The calls go first: a refused write set must
						// drop the calls it staged before its refused save.
						calls := []application.Call{
							newCall(storetest.SiteA.String(), 100+2*i, shared.String(), application.KindReport, fmt.Sprintf("t%d", i)),
							newCall(storetest.SiteA.String(), 101+2*i, storetest.ID("e0000000", i).String(), application.KindReport, "t"),
						}
						if i == tc.duplicate {
							calls = append(calls, first)
						}
						if err := tx.Enqueue(ctx, calls); err != nil {
							return err
						}
						a := storetest.NewAppointment(t, storetest.SiteA, i)
						if refused(i) {
							a = storetest.NewAppointment(t, storetest.SiteA, 1000)
						}
						return tx.SaveAppointment(ctx, a)
					})
				}()
			}
			waitQueued(t, db, n)
			release()
			wg.Wait()

			wantCalls, wantHeads := []string{first.ID}, []string{first.ID}
			for i := range n {
				if refused(i) || i == tc.duplicate {
					assert.ErrorIs(t, results[i], application.ErrConflict, "command %d", i)
					continue
				}
				require.NoError(t, results[i], "command %d", i)
				wantCalls = append(wantCalls, storetest.ID("d0000000", 100+2*i).String(), storetest.ID("d0000000", 101+2*i).String())
				wantHeads = append(wantHeads, storetest.ID("d0000000", 101+2*i).String())
			}
			for i := range n {
				if refused(i) || i == tc.duplicate {
					assertNoAppointment(t, db, storetest.ID("a1000000", i).String())
				}
			}
			all, err := db.List(ctx, application.Filter{Limit: 1000})
			require.NoError(t, err)
			assert.ElementsMatch(t, wantCalls, ids(all), "the calls of the committed commands, and only those")
			for i := 1; i < len(all); i++ {
				assert.Greater(t, all[i].Seq, all[i-1].Seq)
			}
			heads, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: storetest.T0, Limit: 1000, Lease: time.Minute})
			require.NoError(t, err)
			assert.ElementsMatch(t, wantHeads, ids(heads), "one head per key: its first call")
		})
	}
}

func TestCanceledWhileQueuedWritesNothing(t *testing.T) {
	db := open(t)
	release := holdWriter(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
			return tx.SaveAppointment(ctx, storetest.NewAppointment(t, storetest.SiteA, 1))
		})
	}()
	waitQueued(t, db, 1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	release()
	assertNoAppointment(t, db, storetest.ID("a1000000", 1).String())
}

func TestCanceledWhileRunningWritesNothing(t *testing.T) {
	db := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveAppointment(ctx, storetest.NewAppointment(t, storetest.SiteA, 1)); err != nil {
			return err
		}
		cancel() // the caller gives up after its writes
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assertNoAppointment(t, db, storetest.ID("a1000000", 1).String())
}

func TestPanicDoesNotStopTheWriter(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	err := db.Update(ctx, func(context.Context, application.Tx) error { panic(fmt.Sprintf("bad %d", 1)) })
	var p *sqlite.PanicError
	require.ErrorAs(t, err, &p)
	assert.Equal(t, "bad 1", p.Value)
	assert.Contains(t, err.Error(), "bad 1")

	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.SaveAppointment(ctx, storetest.NewAppointment(t, storetest.SiteA, 2))
	}), "the writer goes on after a panic")
}

func TestTxUnusableAfterItsFunction(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	var leaked application.Tx
	require.NoError(t, db.Update(ctx, func(_ context.Context, tx application.Tx) error { leaked = tx; return nil }))
	err := leaked.SaveAppointment(ctx, storetest.NewAppointment(t, storetest.SiteA, 1))
	require.Error(t, err)
	assertNoAppointment(t, db, storetest.ID("a1000000", 1).String())
}

func TestMigrationsRecordedAndReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lifecycle.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	a := storetest.NewAppointment(t, storetest.SiteA, 1)
	call := newCall(storetest.SiteA.String(), 1, a.ID().String(), application.KindReport, "appointment_scheduled")
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveAppointment(ctx, a); err != nil {
			return err
		}
		return tx.Enqueue(ctx, []application.Call{call})
	}))
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "closing twice is harmless")
	require.ErrorIs(t, db.Update(ctx, func(context.Context, application.Tx) error { return nil }), sqlite.ErrClosed)
	require.ErrorIs(t, db.View(ctx, func(context.Context, application.ReadTx) error { return nil }), sqlite.ErrClosed)

	for range 2 { // reopening applies no migration twice
		db, err = sqlite.Open(ctx, path)
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer raw.Close()
	var versions, names int
	require.NoError(t, raw.QueryRow(`SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&versions, &names))
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	assert.Equal(t, len(files), versions, "one row per migration file")
	assert.Equal(t, len(files), names)
	var mode string
	require.NoError(t, raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)

	db, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, storetest.SiteA, a.ID())
		require.NoError(t, err)
		assert.Equal(t, a.Snapshot(), got.Snapshot())
		return nil
	}))
	calls, err := db.List(ctx, application.Filter{SiteID: storetest.SiteA.String()})
	require.NoError(t, err)
	require.Len(t, calls, 1)
	assert.Equal(t, call.ID, calls[0].ID)
	assert.Equal(t, application.StatePending, calls[0].State)
}

func TestTimesAreStoredAsUTCMilliseconds(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	zone := time.FixedZone("UTC+5", 5*3600)
	created := time.Date(2030, 1, 7, 14, 0, 0, 123_456_789, zone)
	call := newCall(storetest.SiteA.String(), 1, storetest.ID("e0000000", 1).String(), application.KindReport, "class_starting")
	call.CreatedAt = created
	call.ScheduledAt = created.Add(time.Hour)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{call})
	}))
	d, err := db.Get(ctx, storetest.SiteA.String(), call.ID)
	require.NoError(t, err)
	want := time.Date(2030, 1, 7, 9, 0, 0, 123_000_000, time.UTC)
	assert.Equal(t, want, d.CreatedAt)
	assert.Equal(t, want, d.NextAttemptAt)
	assert.Equal(t, want.Add(time.Hour), d.ScheduledAt)
	assert.True(t, d.SettledAt.IsZero())

	a := storetest.NewAppointment(t, storetest.SiteA, 2)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) }))
	require.NoError(t, db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, storetest.SiteA, a.ID())
		require.NoError(t, err)
		assert.Equal(t, time.UTC, got.Start().Location())
		assert.True(t, a.Start().Equal(got.Start()))
		return nil
	}))
}

func TestClockFillsMissingTimes(t *testing.T) {
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	db := open(t, sqlite.WithClock(fixedClock(now)), sqlite.WithSynchronous(true), sqlite.WithBusyTimeout(time.Second),
		sqlite.WithMaxBatch(4), sqlite.WithReadConns(2))
	ctx := context.Background()
	call := newCall(storetest.SiteA.String(), 1, storetest.ID("e0000000", 1).String(), application.KindCancel, "class_starting")
	call.CreatedAt = time.Time{}
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{call})
	}))
	d, err := db.Get(ctx, storetest.SiteA.String(), call.ID)
	require.NoError(t, err)
	assert.Equal(t, now, d.CreatedAt)
	assert.Equal(t, now, d.NextAttemptAt)
}

func TestHeadOfKeyOrderAndLeaseExpiry(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	e1, e2 := storetest.ID("e0000000", 1), storetest.ID("e0000000", 2)
	var calls []application.Call
	for i, e := range []string{e1.String(), e2.String(), e1.String(), e2.String(), e1.String()} {
		c := newCall(storetest.SiteA.String(), i+1, e, application.KindReport, fmt.Sprintf("t%d", i))
		c.CreatedAt = storetest.T0
		calls = append(calls, c)
	}
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.Enqueue(ctx, calls) }))

	now := storetest.T0
	got, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: now, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, []string{calls[0].ID, calls[1].ID}, ids(got), "one head per key, by seq")

	got, err = db.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: now.Add(30 * time.Second), Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	assert.Empty(t, got, "heads in flight are not claimed again")
	due, ok, err := db.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, now.Add(90*time.Second), due, "next due is the end of the relay's lease, which its last claim extended")

	// The relay died: after its lease another relay gets the same heads.
	_, err = db.Claim(ctx, outbox.ClaimRequest{Relay: "r2", Now: now.Add(time.Minute), Limit: 10, Lease: time.Minute})
	assert.ErrorIs(t, err, outbox.ErrStandby, "not before")
	got, err = db.Claim(ctx, outbox.ClaimRequest{Relay: "r2", Now: now.Add(90 * time.Second), Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, []string{calls[0].ID, calls[1].ID}, ids(got))

	later := now.Add(2 * time.Minute)
	require.NoError(t, db.Settle(ctx, []application.Outcome{
		{ID: calls[0].ID, Token: got[0].Lease.Token, State: application.StateDelivered, Attempted: true, At: later},
		{ID: calls[1].ID, Token: got[1].Lease.Token, State: application.StatePending, Attempted: true, At: later, NextAttemptAt: later.Add(time.Hour),
			Err: &application.CallError{Status: 503, Message: "unavailable"}},
	}))
	got, err = db.Claim(ctx, outbox.ClaimRequest{Relay: "r2", Now: later, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, []string{calls[2].ID}, ids(got), "key 1 moved on; key 2 waits for its retry")

	d, err := db.Get(ctx, storetest.SiteA.String(), calls[1].ID)
	require.NoError(t, err)
	assert.Equal(t, 1, d.Attempts)
	assert.Equal(t, &application.CallError{Status: 503, Message: "unavailable"}, d.LastError)
	require.Len(t, d.History, 1)
	assert.Equal(t, application.StatePending, d.History[0].State)
}

func TestPruneRemovesHistoryInChunks(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	const n = 1100 // more than one prune chunk
	calls := make([]application.Call, n)
	for i := range calls {
		calls[i] = newCall(storetest.SiteA.String(), i+1, storetest.ID("e0000000", i+1).String(), application.KindReport, "t")
		calls[i].CreatedAt = storetest.T0
	}
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.Enqueue(ctx, calls) }))
	claimed, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: storetest.T0, Limit: n, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, n)
	outcomes := make([]application.Outcome, n)
	for i, c := range claimed {
		outcomes[i] = application.Outcome{ID: c.ID, Token: c.Lease.Token, State: application.StateDelivered, Attempted: true, At: storetest.T0}
	}
	require.NoError(t, db.Settle(ctx, outcomes))

	pruned, err := db.Prune(ctx, storetest.T0.Add(time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, n, pruned)
	stats, err := db.Stats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 0, stats[application.StateDelivered])

	raw, err := sql.Open("sqlite", db.Path())
	require.NoError(t, err)
	defer raw.Close()
	var history int
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM outbox_attempts`).Scan(&history))
	assert.Zero(t, history, "the history of pruned calls goes with them")
}

func TestOpenRefusesInMemory(t *testing.T) {
	_, err := sqlite.Open(context.Background(), ":memory:")
	require.Error(t, err)
}

func assertNoAppointment(t *testing.T, db *sqlite.DB, id string) {
	t.Helper()
	require.NoError(t, db.View(context.Background(), func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.Appointment(ctx, storetest.SiteA, domain.MustID(id))
		assert.ErrorIs(t, err, application.ErrNotFound)
		return nil
	}))
}

func ids(calls []application.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.ID
	}
	return out
}

// newCall returns call n of an entity on site, created at storetest.T0.
func newCall(site string, n int, entity string, kind application.CallKind, trigger string) application.Call {
	c := application.Call{
		ID: storetest.ID("d0000000", n).String(), SiteID: site, OrderingKey: application.OrderingKey(site, entity),
		Kind: kind, TriggerKey: trigger, ExternalEntityID: entity, Cause: "test", CreatedAt: storetest.T0,
	}
	if kind == application.KindReport {
		c.Payload = []byte(fmt.Sprintf(`{"n":%d}`, n))
	}
	return c
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
