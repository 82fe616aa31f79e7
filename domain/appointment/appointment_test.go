package appointment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

var (
	now   = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	site  = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	apptI = domain.MustID("a0000000-0000-4000-8000-000000000001")
	who   = domain.MustID("c0000000-0000-4000-8000-000000000001")
)

func scheduled(t *testing.T) *appointment.Appointment {
	a, err := appointment.Schedule(appointment.New{ID: apptI, SiteID: site, ContactID: who, Title: "Haircut",
		Start: now.Add(24 * time.Hour), End: now.Add(25 * time.Hour)}, now)
	require.NoError(t, err)
	return a
}

func TestScheduleValidates(t *testing.T) {
	ok := appointment.New{ID: apptI, SiteID: site, ContactID: who, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}
	tests := []struct {
		name  string
		edit  func(n *appointment.New)
		field string
	}{
		{"no site", func(n *appointment.New) { n.SiteID = domain.SiteID{} }, "siteId"},
		{"no id", func(n *appointment.New) { n.ID = domain.ID{} }, "id"},
		{"no contact", func(n *appointment.New) { n.ContactID = domain.ID{} }, "contactId"},
		{"start in the past", func(n *appointment.New) { n.Start = now.Add(-time.Minute) }, "startsAt"},
		{"start now", func(n *appointment.New) { n.Start = now }, "startsAt"},
		{"end before start", func(n *appointment.New) { n.End = now.Add(30 * time.Minute) }, "endsAt"},
		{"no end", func(n *appointment.New) { n.End = time.Time{} }, "endsAt"},
		{"title too long", func(n *appointment.New) { n.Title = string(make([]byte, 201)) }, "title"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			tc.edit(&n)
			_, err := appointment.Schedule(n, now)
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "got %v", err)
			assert.Equal(t, tc.field, ve.Field)
			assert.ErrorIs(t, err, domain.ErrInvalid)
		})
	}
}

func TestLifecycleRecordsEvents(t *testing.T) {
	a := scheduled(t)
	require.NoError(t, a.Reschedule(now.Add(48*time.Hour), now.Add(49*time.Hour), now))
	require.NoError(t, a.Cancel("ill", now.Add(time.Minute)))
	evs := a.Events()
	require.Len(t, evs, 3)
	assert.Equal(t, "appointment:scheduled", evs[0].EventName())
	moved := evs[1].(appointment.Rescheduled)
	assert.Equal(t, now.Add(24*time.Hour), moved.PreviousStart)
	assert.Equal(t, now.Add(48*time.Hour), moved.Start)
	canceled := evs[2].(appointment.Canceled)
	assert.Equal(t, "ill", canceled.Reason)
	assert.Equal(t, now.Add(time.Minute), canceled.OccurredAt())
	assert.Equal(t, appointment.StateCanceled, a.State())
}

func TestTransitionsFromEachState(t *testing.T) {
	start := now.Add(24 * time.Hour)
	after := start.Add(time.Minute)
	commands := map[string]func(a *appointment.Appointment) error{
		"reschedule": func(a *appointment.Appointment) error {
			return a.Reschedule(after.Add(time.Hour), after.Add(2*time.Hour), after)
		},
		"cancel":       func(a *appointment.Appointment) error { return a.Cancel("", after) },
		"complete":     func(a *appointment.Appointment) error { return a.Complete(after) },
		"mark_no_show": func(a *appointment.Appointment) error { return a.MarkNoShow(after) },
	}
	// into puts a fresh appointment in each state.
	into := map[string]func(a *appointment.Appointment) error{
		"scheduled": func(a *appointment.Appointment) error { return nil },
		"canceled":  func(a *appointment.Appointment) error { return a.Cancel("", now) },
		"completed": func(a *appointment.Appointment) error { return a.Complete(after) },
		"no_show":   func(a *appointment.Appointment) error { return a.MarkNoShow(after) },
	}
	for state, prepare := range into {
		for name, command := range commands {
			t.Run(state+"/"+name, func(t *testing.T) {
				a := scheduled(t)
				require.NoError(t, prepare(a))
				before := a.Snapshot()
				err := command(a)
				if state == "scheduled" {
					assert.NoError(t, err)
					return
				}
				var tna *domain.TransitionNotAllowedError
				require.True(t, errors.As(err, &tna), "got %v", err)
				assert.Equal(t, domain.TransitionNotAllowedError{Aggregate: "appointment", ID: apptI.String(), State: state, Event: name}, *tna)
				assert.Equal(t, before, a.Snapshot(), "a refused command changes nothing")
			})
		}
	}
}

func TestRestoreRoundTrip(t *testing.T) {
	a := scheduled(t)
	require.NoError(t, a.Cancel("ill", now))
	a.SetVersion(3)
	b, err := appointment.Restore(a.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, a.Snapshot(), b.Snapshot())
	assert.Empty(t, b.Events())

	s := a.Snapshot()
	s.State = "exploded"
	_, err = appointment.Restore(s)
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

func TestCopiesDoNotShareTheMachine(t *testing.T) {
	a := scheduled(t)
	b, err := appointment.Restore(a.Snapshot())
	require.NoError(t, err)
	require.NoError(t, b.Cancel("", now))
	assert.Equal(t, appointment.StateScheduled, a.State())
}

func TestTimesAreKeptAtMillisecondPrecision(t *testing.T) {
	start := now.Add(24*time.Hour + 1500*time.Microsecond)
	a, err := appointment.Schedule(appointment.New{ID: apptI, SiteID: site, ContactID: who,
		Start: start.In(time.FixedZone("CET", 3600)), End: start.Add(time.Hour)}, now)
	require.NoError(t, err)
	assert.Equal(t, now.Add(24*time.Hour+time.Millisecond), a.Start(), "UTC, truncated to the millisecond that stores keep")
	assert.Equal(t, time.UTC, a.Start().Location())
}

// TestFactsOfTheLastChanges: what a desired state reads of an appointment,
// after each command, and what a refused command leaves.
func TestFactsOfTheLastChanges(t *testing.T) {
	a := scheduled(t)
	assert.Equal(t, now, a.BookedAt())
	assert.Equal(t, now, a.ChangedAt())
	assert.Zero(t, a.PreviousStart(), "never rescheduled")
	assert.Zero(t, a.RescheduledAt())

	first, second := now.Add(time.Minute+1500*time.Microsecond), now.Add(2*time.Minute)
	require.NoError(t, a.Reschedule(now.Add(48*time.Hour), now.Add(49*time.Hour), first))
	assert.Equal(t, now.Add(24*time.Hour), a.PreviousStart())
	assert.Equal(t, now.Add(time.Minute+time.Millisecond), a.RescheduledAt(), "UTC at the millisecond, as stores keep it")
	require.NoError(t, a.Reschedule(now.Add(72*time.Hour), now.Add(73*time.Hour), second))
	assert.Equal(t, now.Add(48*time.Hour), a.PreviousStart(), "the start before the last reschedule")
	assert.Equal(t, second, a.RescheduledAt())
	assert.Equal(t, second, a.ChangedAt())
	assert.Equal(t, now, a.BookedAt())

	assert.Error(t, a.Reschedule(now, now.Add(time.Hour), second.Add(time.Minute)), "a start in the past")
	assert.Equal(t, second, a.ChangedAt(), "a refused command changes nothing")

	done := now.Add(72*time.Hour + time.Minute)
	require.NoError(t, a.Complete(done))
	assert.Equal(t, done, a.ChangedAt())
	assert.Equal(t, second, a.RescheduledAt())

	for name, end := range map[string]func(a *appointment.Appointment, at time.Time) error{
		"cancel":       func(a *appointment.Appointment, at time.Time) error { return a.Cancel("", at) },
		"mark_no_show": func(a *appointment.Appointment, at time.Time) error { return a.MarkNoShow(at) },
	} {
		b := scheduled(t)
		at := now.Add(24*time.Hour + time.Minute)
		require.NoError(t, end(b, at), name)
		assert.Equal(t, at, b.ChangedAt(), name)
		assert.Equal(t, now, b.BookedAt(), name)
	}
}

func TestRestoreAcceptsUnsetTimes(t *testing.T) {
	s := scheduled(t).Snapshot()
	s.BookedAt, s.ChangedAt = time.Time{}, time.Time{}
	a, err := appointment.Restore(s)
	require.NoError(t, err, "rows stored before lifecycle kept the times have none")
	assert.Zero(t, a.BookedAt())
	assert.Equal(t, s, a.Snapshot())
}

func TestRename(t *testing.T) {
	a := scheduled(t)
	later := now.Add(time.Minute)
	require.NoError(t, a.Rename("Colouring", later))
	assert.Equal(t, "Colouring", a.Title())
	assert.True(t, a.ChangedAt().Equal(later))
	ev, ok := a.Events()[len(a.Events())-1].(appointment.Renamed)
	require.True(t, ok)
	assert.Equal(t, "Haircut", ev.PreviousTitle)
	assert.Equal(t, "Colouring", ev.Title)
	n := len(a.Events())
	require.NoError(t, a.Rename("Colouring", later), "the same title changes nothing")
	assert.Len(t, a.Events(), n)
	assert.ErrorIs(t, a.Rename(strings.Repeat("x", appointment.MaxTitleLen+1), later), domain.ErrInvalid)
	require.NoError(t, a.Cancel("", later))
	assert.ErrorIs(t, a.Rename("Again", later), domain.ErrTransitionNotAllowed)
}
