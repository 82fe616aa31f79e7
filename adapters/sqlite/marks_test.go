package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// TestDeliveryIsAMark follows calls delivered since schema version 12: the
// delivery is a row of outbox_delivered and the call's own row is not
// rewritten, yet every read shows the call delivered, with its time and its
// attempt; an outcome that comes after the delivery folds the mark into the
// row; Prune deletes marked calls and their marks. The contract suite proves
// the behaviour on every adapter; this test proves that the SQLite adapter
// gets it from marks, which is what makes its drain cheaper.
func TestDeliveryIsAMark(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "marks.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	raw, err := sql.Open("sqlite", rawDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })

	const site, entity = "a0000000-0000-4000-8000-000000000001", "e0000000-0000-4000-8000-000000000001"
	t0 := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	call := func(id, trigger string) application.Call {
		return application.Call{ID: id, SiteID: site, OrderingKey: application.OrderingKey(site, entity),
			Kind: application.KindReport, TriggerKey: trigger, ExternalEntityID: entity, Cause: "test",
			Payload: []byte(`{}`), CreatedAt: t0, NextAttemptAt: t0}
	}
	first, second := call("c0000000-0000-4000-8000-000000000001", "t1"), call("c0000000-0000-4000-8000-000000000002", "t2")
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{first, second})
	}))

	claimed, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "r1", Now: t0, Limit: 10, Lease: time.Hour})
	require.NoError(t, err)
	require.Len(t, claimed, 1, "one head per key: the second call waits")
	at := t0.Add(time.Second)
	delivered := outbox.Outcome{ID: first.ID, Seq: claimed[0].Seq, Token: claimed[0].Lease.Token,
		State: outbox.StateDelivered, Attempted: true, At: at}
	require.NoError(t, db.Settle(ctx, []outbox.Outcome{delivered}))

	var rowState string
	var marks int
	require.NoError(t, raw.QueryRow(`SELECT state FROM outbox WHERE id = ?`, first.ID).Scan(&rowState))
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM outbox_delivered`).Scan(&marks))
	assert.Equal(t, "pending", rowState, "the delivered call's row is not rewritten")
	assert.Equal(t, 1, marks, "the delivery is a mark")

	d, err := db.Get(ctx, site, first.ID)
	require.NoError(t, err)
	assert.Equal(t, outbox.StateDelivered, d.State)
	assert.True(t, d.SettledAt.Equal(at), "settled at the mark's time, got %v", d.SettledAt)
	assert.Equal(t, 1, d.Attempts)
	require.NotEmpty(t, d.History)
	assert.Equal(t, outbox.StateDelivered, d.History[len(d.History)-1].State)

	list := func(state outbox.State) []string {
		calls, err := db.List(ctx, outbox.Filter{SiteID: site, State: state})
		require.NoError(t, err)
		var ids []string
		for _, c := range calls {
			ids = append(ids, c.ID)
		}
		return ids
	}
	assert.Equal(t, []string{first.ID}, list(outbox.StateDelivered))
	assert.Equal(t, []string{second.ID}, list(outbox.StatePending))
	stats, err := db.Stats(ctx, site)
	require.NoError(t, err)
	assert.Equal(t, 1, stats[outbox.StateDelivered])
	assert.Equal(t, 1, stats[outbox.StatePending])
	all, err := db.Stats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, stats, all)

	// The next call of the key is its head now, and a claim finds it.
	next, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "r1", Now: at, Limit: 10, Lease: time.Hour})
	require.NoError(t, err)
	require.Len(t, next, 1)
	assert.Equal(t, second.ID, next[0].ID)

	// The same outcome again is history only, and folds the mark.
	late := delivered
	late.At = at.Add(time.Second)
	require.NoError(t, db.Settle(ctx, []outbox.Outcome{late}))
	require.NoError(t, raw.QueryRow(`SELECT state FROM outbox WHERE id = ?`, first.ID).Scan(&rowState))
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM outbox_delivered`).Scan(&marks))
	assert.Equal(t, "delivered", rowState, "a late outcome folds the mark into the row")
	assert.Zero(t, marks)
	folded, err := db.Get(ctx, site, first.ID)
	require.NoError(t, err)
	assert.Equal(t, outbox.StateDelivered, folded.State)
	assert.True(t, folded.SettledAt.Equal(at), "the fold keeps the delivery's time, got %v", folded.SettledAt)
	assert.Equal(t, 2, folded.Attempts, "the late outcome's attempt counts")
	require.Len(t, folded.History, len(d.History)+1)
	assert.Equal(t, outbox.StateDelivered, folded.History[len(d.History)-1].State, "the delivery, logged by the fold")
	assert.NotEmpty(t, folded.History[len(d.History)].Note, "the late outcome, not applied")

	// Prune takes marked calls too, with their marks.
	require.NoError(t, db.Settle(ctx, []outbox.Outcome{{ID: second.ID, Seq: next[0].Seq, Token: next[0].Lease.Token,
		State: outbox.StateDelivered, Attempted: true, At: at.Add(2 * time.Second)}}))
	n, err := db.Prune(ctx, at.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM outbox_delivered`).Scan(&marks))
	assert.Zero(t, marks, "pruned calls leave no marks")
	stats, err = db.Stats(ctx, site)
	require.NoError(t, err)
	assert.Zero(t, stats[outbox.StateDelivered]+stats[outbox.StatePending])
}
