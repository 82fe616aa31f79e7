package site_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/site"
)

var siteID = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")

var now = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

func TestDefaultsAreUTC(t *testing.T) {
	s, err := site.Defaults(siteID)
	require.NoError(t, err)
	assert.Equal(t, "UTC", s.TimeZone().Name())
	assert.Equal(t, int64(0), s.Version())
	assert.True(t, s.ChangedAt().IsZero())
	_, err = site.Defaults(domain.SiteID{})
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

func TestSetTimeZone(t *testing.T) {
	s, err := site.Defaults(siteID)
	require.NoError(t, err)
	berlin, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	assert.False(t, s.SetTimeZone(domain.UTC(), now), "UTC is already the zone")
	assert.True(t, s.SetTimeZone(berlin, now.Add(time.Microsecond*1500)))
	assert.Equal(t, berlin, s.TimeZone())
	assert.Equal(t, now.Add(time.Millisecond), s.ChangedAt(), "at the millisecond that stores keep")
	assert.False(t, s.SetTimeZone(berlin, now.Add(time.Hour)), "the same zone again changes nothing")
	again, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	assert.False(t, s.SetTimeZone(again, now.Add(time.Hour)), "parsed again, it is the same zone")
	assert.Equal(t, now.Add(time.Millisecond), s.ChangedAt())
}

func TestRestore(t *testing.T) {
	s, err := site.Defaults(siteID)
	require.NoError(t, err)
	berlin, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	s.SetTimeZone(berlin, now)
	s.SetVersion(3)
	got, err := site.Restore(s.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, s.Snapshot(), got.Snapshot())
	assert.Equal(t, site.Snapshot{SiteID: siteID.String(), TimeZone: "Europe/Berlin", ChangedAt: now, Version: 3}, got.Snapshot())

	for _, bad := range []site.Snapshot{
		{SiteID: "nope", TimeZone: "UTC"},
		{SiteID: siteID.String(), TimeZone: "Mars/Olympus"},
		{SiteID: siteID.String()},
	} {
		_, err := site.Restore(bad)
		assert.ErrorIs(t, err, domain.ErrInvalid, "%+v", bad)
	}
}
