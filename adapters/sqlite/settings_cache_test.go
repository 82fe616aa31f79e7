package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/site"
)

var cacheSite = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")

// zoneCommand is a staged Update that reads the site's time zone, as every
// command that builds payloads does, and queues a call (so it has writes).
// It returns the zone of the run that committed and how many runs it took.
func zoneCommand(t *testing.T, db *DB, n int) (string, int) {
	t.Helper()
	var zone string
	runs := 0
	err := db.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		runs++
		zone = domain.UTC().Name()
		s, err := tx.SiteSettings(ctx, cacheSite)
		switch {
		case err == nil:
			zone = s.TimeZone().Name()
		case !errors.Is(err, application.ErrNotFound):
			return err
		}
		now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		entity := "00000000-0000-4000-8000-00000000000" + string(rune('0'+n))
		return tx.Enqueue(ctx, []application.Call{{ID: "01000000-0000-7000-8000-00000000000" + string(rune('0'+n)),
			SiteID: cacheSite.String(), OrderingKey: application.OrderingKey(cacheSite.String(), entity),
			Kind: application.KindReport, TriggerKey: "appointment_scheduled", ExternalEntityID: entity,
			Cause: "cache test", Payload: []byte(`{"zone":"` + zone + `"}`), CreatedAt: now, NextAttemptAt: now}})
	})
	require.NoError(t, err)
	return zone, runs
}

// saveZone sets the site's time zone through db.
func saveZone(t *testing.T, db *DB, name string) {
	t.Helper()
	z, err := domain.ParseTimeZone(name)
	require.NoError(t, err)
	require.NoError(t, db.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		s, err := tx.SiteSettings(ctx, cacheSite)
		if errors.Is(err, application.ErrNotFound) {
			s, err = site.Defaults(cacheSite)
		}
		if err != nil {
			return err
		}
		s.SetTimeZone(z, time.Now())
		return tx.SaveSiteSettings(ctx, s)
	}))
}

// TestSettingsCacheIsCheckedByTheWriter: a staged Update takes the site's
// settings from the cache after the first read, and the writer's check
// turns settings that another process changed since (since the cache was
// filled, or since the command's snapshot) into one more run, in the
// writer, with the new settings; settings saved by this process leave the
// cache at once.
func TestSettingsCacheIsCheckedByTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifecycle.db")
	ctx := context.Background()
	a, err := Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	a.stageAlways = true
	b, err := Open(ctx, path) // another process on the same file
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })

	zone, runs := zoneCommand(t, a, 1)
	assert.Equal(t, "UTC", zone)
	assert.Equal(t, 1, runs)
	cached, ok := a.settings.get(cacheSite.String())
	require.True(t, ok, "the first read fills the cache")
	assert.True(t, cached.absent)

	zone, runs = zoneCommand(t, a, 2)
	assert.Equal(t, "UTC", zone)
	assert.Equal(t, 1, runs, "taken from the cache, checked, committed")

	saveZone(t, b, "Europe/Paris")
	zone, runs = zoneCommand(t, a, 3)
	assert.Equal(t, "Europe/Paris", zone, "the writer found the cached settings stale: the run that committed read the new ones")
	assert.Equal(t, 2, runs)
	_, ok = a.settings.get(cacheSite.String())
	assert.False(t, ok, "a stale entry leaves the cache")

	zone, runs = zoneCommand(t, a, 4)
	assert.Equal(t, "Europe/Paris", zone)
	assert.Equal(t, 1, runs)
	cached, ok = a.settings.get(cacheSite.String())
	require.True(t, ok)
	assert.Equal(t, "Europe/Paris", cached.snap.TimeZone)

	saveZone(t, a, "Asia/Tokyo")
	_, ok = a.settings.get(cacheSite.String())
	assert.False(t, ok, "settings this process saves leave the cache when written")
	zone, runs = zoneCommand(t, a, 5)
	assert.Equal(t, "Asia/Tokyo", zone)
	assert.Equal(t, 1, runs)

	// An Update with nothing else to write still has its cached read checked.
	saveZone(t, b, "America/New_York")
	var seen []string
	require.NoError(t, a.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		s, err := tx.SiteSettings(ctx, cacheSite)
		if err != nil {
			return err
		}
		seen = append(seen, s.TimeZone().Name())
		return nil
	}))
	assert.Equal(t, []string{"Asia/Tokyo", "America/New_York"}, seen, "the stale read ran again in the writer")

	// A snapshot read is checked too: another process saves the settings
	// after this command read them from its snapshot and before it commits.
	a.settings.forget(cacheSite.String())
	seen = nil
	require.NoError(t, a.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		s, err := tx.SiteSettings(ctx, cacheSite)
		if err != nil {
			return err
		}
		seen = append(seen, s.TimeZone().Name())
		if len(seen) == 1 {
			saveZone(t, b, "Australia/Sydney")
		}
		return nil
	}))
	assert.Equal(t, []string{"America/New_York", "Australia/Sydney"}, seen, "the snapshot's settings were older than the writer's")
}
