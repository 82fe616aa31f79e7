package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// record returns an idempotency record of site and key created at.
func record(site domain.SiteID, key string, at time.Time) application.IdempotencyRecord {
	return application.IdempotencyRecord{SiteID: site, Key: key, Fingerprint: "fp-" + key,
		Result: []byte(`{"key":"` + key + `"}`), CreatedAt: at}
}

// readRecord reads a record in its own transaction.
func readRecord(t *testing.T, s application.Store, site domain.SiteID, key string) (application.IdempotencyRecord, error) {
	t.Helper()
	var rec application.IdempotencyRecord
	var readErr error
	require.NoError(t, s.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		rec, readErr = tx.Idempotency(ctx, site, key)
		return nil
	}))
	return rec, readErr
}

func testIdempotency(t *testing.T, h Harness) {
	ctx := context.Background()
	rec := record(SiteA, "k1", T0)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		require.NoError(t, tx.SaveIdempotency(ctx, rec, T0.Add(-24*time.Hour)))
		got, err := tx.Idempotency(ctx, SiteA, "k1")
		require.NoError(t, err, "a transaction sees its own record")
		assert.Equal(t, rec, got)
		return nil
	})
	got, err := readRecord(t, h.Store, SiteA, "k1")
	require.NoError(t, err)
	assert.Equal(t, rec, got, "round trip")

	_, err = readRecord(t, h.Store, SiteB, "k1")
	assert.ErrorIs(t, err, application.ErrNotFound, "keys are per site")
	_, err = readRecord(t, h.Store, SiteA, "K1")
	assert.ErrorIs(t, err, application.ErrNotFound, "keys are compared exactly")

	// A live record of the key: the second save is a conflict, and nothing
	// of its transaction is kept.
	a := NewAppointment(t, SiteA, 1)
	err = h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveAppointment(ctx, a); err != nil {
			return err
		}
		return tx.SaveIdempotency(ctx, record(SiteA, "k1", T0.Add(time.Hour)), T0.Add(-23*time.Hour))
	})
	require.ErrorIs(t, err, application.ErrConflict)
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.Appointment(ctx, SiteA, a.ID())
		assert.ErrorIs(t, err, application.ErrNotFound, "the conflicting transaction wrote nothing")
		return nil
	}))
	got, err = readRecord(t, h.Store, SiteA, "k1")
	require.NoError(t, err)
	assert.Equal(t, rec, got, "the first record stands")

	// Expired: the record of the key is replaced, and the site's other
	// expired records are deleted; another site's stay.
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveIdempotency(ctx, record(SiteA, "old", T0.Add(time.Minute)), T0.Add(-24*time.Hour)); err != nil {
			return err
		}
		return tx.SaveIdempotency(ctx, record(SiteB, "old", T0), T0.Add(-24*time.Hour))
	})
	later := T0.Add(25 * time.Hour)
	fresh := record(SiteA, "k1", later)
	fresh.Fingerprint = "fp-other"
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		return tx.SaveIdempotency(ctx, fresh, later.Add(-24*time.Hour))
	})
	got, err = readRecord(t, h.Store, SiteA, "k1")
	require.NoError(t, err)
	assert.Equal(t, fresh, got, "an expired record of the key is replaced")
	_, err = readRecord(t, h.Store, SiteA, "old")
	assert.ErrorIs(t, err, application.ErrNotFound, "the site's expired records are pruned")
	_, err = readRecord(t, h.Store, SiteB, "old")
	assert.NoError(t, err, "another site's records are not")
}

// testIdempotencyRace: twenty transactions save the same key at once;
// exactly one commits, the others see ErrConflict.
func testIdempotencyRace(t *testing.T, h Harness) {
	const racers = 20
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Store.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
				if _, err := tx.Idempotency(ctx, SiteA, "race"); err == nil {
					return application.ErrConflict // seen committed: as a command would replay
				}
				return tx.SaveIdempotency(ctx, record(SiteA, "race", T0), T0.Add(-24*time.Hour))
			})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, application.ErrConflict)
	}
	assert.Equal(t, 1, won)
}
