package series_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/series"
)

var (
	now      = time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	site     = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	seriesID = domain.MustID("5e1e5000-0000-4000-8000-000000000001")
	contact  = domain.MustID("c0000000-0000-4000-8000-000000000001")
	// Tuesday 19 March 2030, 09:00 in Berlin (CET, UTC+1).
	firstStart = time.Date(2030, 3, 19, 8, 0, 0, 0, time.UTC)
)

func berlin(t *testing.T) domain.TimeZone {
	t.Helper()
	z, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	return z
}

func newSeries(t *testing.T, count int) *series.Series {
	t.Helper()
	s, err := series.Schedule(series.New{ID: seriesID, SiteID: site, ContactID: contact, Title: "Physio",
		Start: firstStart, End: firstStart.Add(45 * time.Minute), Every: series.Weekly, Count: count, Zone: berlin(t)}, now)
	require.NoError(t, err)
	return s
}

func TestScheduleValidates(t *testing.T) {
	ok := series.New{ID: seriesID, SiteID: site, ContactID: contact, Start: firstStart, End: firstStart.Add(time.Hour),
		Every: series.Weekly, Count: 3}
	tests := []struct {
		name  string
		edit  func(n *series.New)
		field string
	}{
		{"no site", func(n *series.New) { n.SiteID = domain.SiteID{} }, "siteId"},
		{"no id", func(n *series.New) { n.ID = domain.ID{} }, "id"},
		{"no contact", func(n *series.New) { n.ContactID = domain.ID{} }, "contactId"},
		{"title too long", func(n *series.New) { n.Title = strings.Repeat("x", series.MaxTitleLen+1) }, "title"},
		{"first start in the past", func(n *series.New) { n.Start = now.Add(-time.Hour) }, "startsAt"},
		{"end before start", func(n *series.New) { n.End = n.Start.Add(-time.Minute) }, "endsAt"},
		{"no recurrence", func(n *series.New) { n.Every = series.Every{} }, "every"},
		{"no occurrence", func(n *series.New) { n.Count = 0 }, "count"},
		{"too many", func(n *series.New) { n.Count = series.MaxOccurrences + 1 }, "count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			tc.edit(&n)
			_, err := series.Schedule(n, now)
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "got %v", err)
			assert.Equal(t, tc.field, ve.Field)
		})
	}
	_, err := series.ParseEvery("month")
	assert.ErrorIs(t, err, domain.ErrInvalid)
	every, err := series.ParseEvery("day")
	require.NoError(t, err)
	assert.Equal(t, series.Daily, every)
}

// TestWeeklyAcrossADaylightSavingChange: Berlin moves to summer time on
// Sunday 31 March 2030. The series stays at 9:00 on the wall clock, so its
// UTC time moves from 08:00 to 07:00.
func TestWeeklyAcrossADaylightSavingChange(t *testing.T) {
	s := newSeries(t, 4)
	z := berlin(t)
	var local []string
	var utc []time.Time
	for _, o := range s.Occurrences() {
		local = append(local, z.FormatText(o.Start))
		utc = append(utc, o.Start)
		assert.Equal(t, 45*time.Minute, o.End.Sub(o.Start))
	}
	assert.Equal(t, []string{"Tuesday 19 March 2030, 09:00", "Tuesday 26 March 2030, 09:00",
		"Tuesday 2 April 2030, 09:00", "Tuesday 9 April 2030, 09:00"}, local)
	assert.Equal(t, []time.Time{firstStart, firstStart.Add(7 * 24 * time.Hour),
		time.Date(2030, 4, 2, 7, 0, 0, 0, time.UTC), time.Date(2030, 4, 9, 7, 0, 0, 0, time.UTC)}, utc)

	// In UTC the same series keeps its UTC time.
	u, err := series.Schedule(series.New{ID: seriesID, SiteID: site, ContactID: contact, Start: firstStart,
		End: firstStart.Add(time.Hour), Every: series.Weekly, Count: 3}, now)
	require.NoError(t, err)
	o, ok := u.Occurrence(3)
	require.True(t, ok)
	assert.Equal(t, firstStart.Add(14*24*time.Hour), o.Start)
}

func TestOccurrenceIDs(t *testing.T) {
	s := newSeries(t, 10)
	seen := map[string]bool{}
	for _, o := range s.Occurrences() {
		u, err := uuid.Parse(o.AppointmentID.String())
		require.NoError(t, err)
		assert.Equal(t, uuid.Version(5), u.Version())
		assert.False(t, seen[o.AppointmentID.String()])
		seen[o.AppointmentID.String()] = true
		assert.Equal(t, series.OccurrenceID(seriesID, o.Number), o.AppointmentID, "derived, not stored")
	}
	assert.NotEqual(t, series.OccurrenceID(seriesID, 1), series.OccurrenceID(domain.MustID("5e1e5000-0000-4000-8000-000000000002"), 1))
	_, ok := s.Occurrence(11)
	assert.False(t, ok)
	_, ok = s.Occurrence(0)
	assert.False(t, ok)
}

func TestCancelFollowingAndAll(t *testing.T) {
	s := newSeries(t, 5)
	require.NoError(t, s.CancelFollowing(3, "moving away", now))
	assert.Equal(t, series.StateScheduled, s.State())
	assert.Equal(t, 3, s.CutFrom())
	var planned []int
	for n := 0; n <= 6; n++ {
		if s.Planned(n) {
			planned = append(planned, n)
		}
	}
	assert.Equal(t, []int{1, 2}, planned)
	assert.ErrorIs(t, s.CancelFollowing(4, "", now), domain.ErrInvalid, "occurrence 4 is already cut off")
	require.NoError(t, s.CancelFollowing(2, "", now), "the cut can move earlier")
	assert.Equal(t, 2, s.CutFrom())

	require.NoError(t, s.CancelFollowing(1, "", now), "from the first occurrence, the whole series")
	assert.Equal(t, series.StateCanceled, s.State())
	assert.False(t, s.Planned(1))

	var names []string
	for _, e := range s.Events() {
		names = append(names, e.EventName())
	}
	assert.Equal(t, []string{"series:scheduled", "series:canceled_following", "series:canceled_following", "series:canceled"}, names)
}

// TestCommandsFromEachState: a canceled series refuses both cancels with
// the table's error and changes nothing.
func TestCommandsFromEachState(t *testing.T) {
	commands := map[string]func(s *series.Series) error{
		"cancel_following": func(s *series.Series) error { return s.CancelFollowing(2, "", now) },
		"cancel_all":       func(s *series.Series) error { return s.CancelAll("", now) },
	}
	for name, command := range commands {
		t.Run("scheduled/"+name, func(t *testing.T) {
			assert.NoError(t, command(newSeries(t, 3)))
		})
		t.Run("canceled/"+name, func(t *testing.T) {
			s := newSeries(t, 3)
			require.NoError(t, s.CancelAll("", now))
			before := s.Snapshot()
			assert.Equal(t, &domain.TransitionNotAllowedError{Aggregate: "series", ID: seriesID.String(), State: "canceled", Event: name}, command(s))
			assert.Equal(t, before, s.Snapshot())
		})
	}
}

func TestRestore(t *testing.T) {
	s := newSeries(t, 6)
	require.NoError(t, s.CancelFollowing(5, "r", now))
	s.SetVersion(2)
	got, err := series.Restore(s.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, s.Snapshot(), got.Snapshot())
	assert.Equal(t, s.Occurrences(), got.Occurrences(), "the stored zone gives the same wall-clock times")

	for _, edit := range []func(x *series.Snapshot){
		func(x *series.Snapshot) { x.Every = "month" },
		func(x *series.Snapshot) { x.TimeZone = "Mars/Olympus" },
		func(x *series.Snapshot) { x.CutFrom = 9 },
		func(x *series.Snapshot) { x.Length = 0 },
		func(x *series.Snapshot) { x.State = "paused" },
	} {
		bad := s.Snapshot()
		edit(&bad)
		_, err := series.Restore(bad)
		assert.ErrorIs(t, err, domain.ErrInvalid)
	}
}
