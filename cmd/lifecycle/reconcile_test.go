package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

// givenRefusedBooking writes a database where an appointment was booked,
// its two reports were refused by Wix, and it was then canceled: the dead
// reports are superseded by the cancels. It returns the path and the
// reports' call IDs.
func givenRefusedBooking(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lifecycle.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	app, err := application.New(application.Config{Store: db})
	require.NoError(t, err)
	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	a, err := app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: demoSite,
		ContactID: domain.MustID("c0000000-0000-4000-8000-000000000001"), StartsAt: start, EndsAt: start.Add(time.Hour)})
	require.NoError(t, err)
	var reports []string
	for range 2 {
		claimed, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "test", Now: time.Now(), Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		for _, c := range claimed {
			reports = append(reports, c.ID)
			require.NoError(t, db.Settle(ctx, []outbox.Outcome{{ID: c.ID, Token: c.Lease.Token, State: outbox.StateDead,
				Attempted: true, Err: &outbox.CallError{Status: 428, Message: "trigger not configured"}, At: time.Now()}}))
		}
	}
	require.Len(t, reports, 2)
	_, err = app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: demoSite, ID: a.ID})
	require.NoError(t, err)
	return path, reports
}

func TestRetryOfASupersededCallExitsOneWithTheReason(t *testing.T) {
	db, reports := givenRefusedBooking(t)
	code, _, errOut := run(t, nil, "outbox", "retry", "--db", db, "--site", demoSite.String(), reports[0])
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "superseded by newer call")
	assert.Contains(t, errOut, "reconcile")
	code, out, _ := run(t, nil, "outbox", "stats", "--db", db, "--site", demoSite.String())
	require.Equal(t, 0, code)
	assert.Contains(t, out, "superseded 2")
}

func TestReconcileDryRunThenRunThenNothing(t *testing.T) {
	db, _ := givenRefusedBooking(t)
	// The cancels are delivered; then Wix refuses nothing more. The
	// booking's cancel notice is still pending: nothing to repair.
	code, out, errOut := run(t, nil, "reconcile", "--db", db, "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "reconcile: 1 sites, 1 entities: 0 repairs would queue (dry run)")
	assert.Empty(t, out)

	// A booking adopted without lifecycle's calls is repaired.
	ctx := context.Background()
	store, err := sqlite.Open(ctx, db, sqlite.WithExisting())
	require.NoError(t, err)
	app, err := application.New(application.Config{Store: store})
	require.NoError(t, err)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	_, err = app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: demoSite,
		ContactID: domain.MustID("c0000000-0000-4000-8000-000000000002"), StartsAt: start, EndsAt: start.Add(time.Hour)})
	require.NoError(t, err)
	list, err := store.List(ctx, application.Filter{SiteID: demoSite.String(), State: application.StatePending, Limit: 100})
	require.NoError(t, err)
	for _, c := range list {
		if c.Cause == "appointment:scheduled" {
			require.NoError(t, store.Discard(ctx, demoSite.String(), c.ID, time.Now())) // the operator gave up its calls
		}
	}
	require.NoError(t, store.Close())

	code, out, errOut = run(t, nil, "reconcile", "--db", db, "--site", demoSite.String(), "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "SITE")
	assert.Contains(t, out, "report")
	assert.Contains(t, out, application.ReasonMissing)
	assert.Contains(t, errOut, "2 entities: 2 repairs would queue (dry run)")

	code, out, errOut = run(t, nil, "reconcile", "--db", db, "--json")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 2, strings.Count(out, `"kind":"report"`))
	assert.Contains(t, errOut, "2 repairs queued")
	code, _, errOut = run(t, nil, "reconcile", "--db", db)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "0 repairs queued", "a second run queues nothing")

	code, _, errOut = run(t, nil, "reconcile", "--db", db, "--max-age", "-1h")
	assert.Equal(t, 2, code, errOut)
	code, _, errOut = run(t, nil, "reconcile", "--db", filepath.Join(t.TempDir(), "missing.db"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "missing.db")
}
