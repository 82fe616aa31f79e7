package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/storetest"
)

// A call superseded after a claim leased it but before the claim read it is
// never returned, and its key is not left waiting for it: the next claim of
// the same relay gets the newer call at once. (Found by the soak test: such
// keys waited for as long as the relay held the database.)
func TestClaimReleasesTheKeyOfACallSupersededBeforeItWasRead(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	entity := storetest.ID("e0000000", 1)
	report := newCall(storetest.SiteA.String(), 1, entity.String(), application.KindReport, "appointment_starting")
	enqueue := func(c application.Call) {
		require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
			return tx.Enqueue(ctx, []application.Call{c})
		}))
	}
	enqueue(report)
	cancel := newCall(storetest.SiteA.String(), 2, entity.String(), application.KindCancel, "appointment_starting")
	once := false
	sqlite.AfterLease(db, func() {
		if !once {
			once = true
			enqueue(cancel) // supersedes the report, which the claim has leased
		}
	})
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	req := outbox.ClaimRequest{Relay: "relay-1", Now: now, Limit: 10, Lease: time.Minute}
	got, err := db.Claim(ctx, req)
	require.NoError(t, err)
	assert.Empty(t, got, "the superseded report is not handed out")

	got, err = db.Claim(ctx, req)
	require.NoError(t, err)
	require.Len(t, got, 1, "the key is free for the newer call")
	assert.Equal(t, cancel.ID, got[0].ID)
	d, err := db.Get(ctx, storetest.SiteA.String(), report.ID)
	require.NoError(t, err)
	assert.Equal(t, outbox.StateSuperseded, d.State)
}
