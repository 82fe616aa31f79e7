package scenarios

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// The series scenarios: a recurring appointment is one appointment per
// occurrence, each with its own ID, so the seed's one-to-many rule holds
// per occurrence: "cancel this one", "this and following" and "all" reach
// exactly the occurrences they name, and moving one moves only its reminder.

func seriesID(n int) domain.ID { return nthID("5e1e5000", n) }

// scheduleSeries books series n for contact c: count weekly occurrences of
// an hour, the first `in` from now.
func (w *world) scheduleSeries(n, c, count int, in time.Duration) application.SeriesView {
	w.t.Helper()
	v, err := w.app.ScheduleSeries.Handle(w.ctx, application.ScheduleSeries{SiteID: Site, ID: seriesID(n), ContactID: contactID(c),
		Title: "Physiotherapy", StartsAt: at(in), EndsAt: at(in + time.Hour), Every: "week", Count: count})
	require.NoError(w.t, err)
	require.Len(w.t, v.Occurrences, count)
	return v
}

func (w *world) cancelSeries(n int, scope string, occurrence int) application.SeriesView {
	w.t.Helper()
	v, err := w.app.CancelSeries.Handle(w.ctx, application.CancelSeries{SiteID: Site, ID: seriesID(n), Scope: scope, Occurrence: occurrence})
	require.NoError(w.t, err)
	return v
}

// occurrenceCalls are the calls of booking occurrences, in order.
func occurrenceCalls(v application.SeriesView, from, to int) []call {
	var out []call
	for _, o := range v.Occurrences[from-1 : to] {
		out = append(out, report("appointment_scheduled", o.AppointmentID), reportAt("appointment_starting", o.AppointmentID, o.StartsAt))
	}
	return out
}

func canceledCalls(v application.SeriesView, numbers ...int) []call {
	var out []call
	for _, n := range numbers {
		id := v.Occurrences[n-1].AppointmentID
		out = append(out, report("appointment_canceled", id), cancel("appointment_scheduled", id), cancel("appointment_starting", id))
	}
	return out
}

// Booking a series books every occurrence as an appointment of its own.
func TestSeriesBooked(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		v := w.scheduleSeries(1, 1, 4, 2*day)
		w.thenCalls(occurrenceCalls(v, 1, 4)...)
		assert.Equal(t, "scheduled", v.State)
		for i, o := range v.Occurrences {
			assert.Equal(t, at(2*day+time.Duration(i)*7*day), o.StartsAt, "weekly")
			assert.Equal(t, i+1, o.Number)
		}
	})
}

// Issue 16, "done when": one occurrence of a series rescheduled. Its
// reminder moves (cancel, then report); the others keep theirs.
func TestOneOccurrenceOfASeriesRescheduled(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		v := w.scheduleSeries(1, 1, 4, 2*day)
		w.newCalls()

		// When occurrence 2 moves a day later
		moved, err := w.app.RescheduleOccurrence.Handle(w.ctx, application.RescheduleOccurrence{SiteID: Site, SeriesID: seriesID(1),
			Occurrence: 2, StartsAt: at(10 * day), EndsAt: at(10*day + time.Hour)})
		require.NoError(t, err)

		// Then only its reminder moves
		second := v.Occurrences[1].AppointmentID
		w.thenCalls(cancel("appointment_starting", second), reportAt("appointment_starting", second, at(10*day)))
		assert.Equal(t, at(10*day), moved.Occurrences[1].StartsAt)
		assert.Equal(t, v.Occurrences[2].StartsAt, moved.Occurrences[2].StartsAt, "the next occurrence keeps its time")
	})
}

// Issue 16, "done when": "this and following" canceled. The occurrences
// from the one named on are canceled, each by its own ID; the earlier ones
// keep their reminders.
func TestThisAndFollowingCanceled(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		require.NoError(t, o.sim.AddAutomation(Site.String(), wixsim.Automation{Name: "visit reminder 1 day before",
			TriggerKey: "appointment_starting", Offset: -day}))
		// Given Jane's weekly physiotherapy, five times
		v := o.scheduleSeries(1, 1, 5, 2*day)
		o.deliver()
		o.newCalls()

		// When she cancels the third and all that follow
		got := o.cancelSeries(1, application.SeriesFollowing, 3)

		// Then occurrences 3, 4 and 5 are canceled, and 1 and 2 are not
		o.thenCalls(canceledCalls(v, 3, 4, 5)...)
		assert.Equal(t, 3, got.CutFrom)
		var states []string
		for _, x := range got.Occurrences {
			states = append(states, x.State)
		}
		assert.Equal(t, []string{"scheduled", "scheduled", "canceled", "canceled", "canceled"}, states)
		o.deliver()
		o.sim.Advance(40 * day)
		var reminded []string
		for _, r := range o.ran() {
			if r.automation == "visit reminder 1 day before" {
				reminded = append(reminded, r.entity)
			}
		}
		assert.Equal(t, []string{v.Occurrences[0].AppointmentID.String(), v.Occurrences[1].AppointmentID.String()}, reminded)
	})
}

// "Cancel this one" cancels one occurrence; "all" then cancels those that
// have not taken place, and leaves what did.
func TestCancelThisOneThenAll(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		v := w.scheduleSeries(1, 1, 4, 2*day)
		w.newCalls()
		w.cancelSeries(1, application.SeriesThis, 3)
		w.thenCalls(canceledCalls(v, 3)...)

		_, err := w.app.CancelSeries.Handle(w.ctx, application.CancelSeries{SiteID: Site, ID: seriesID(1), Scope: application.SeriesThis, Occurrence: 3})
		assert.Equal(t, application.CodeTransitionNotAllowed, application.ErrorCode(err), "the appointment's table refuses a second cancel")

		w.clock.Set(at(2*day + 2*time.Hour)) // occurrence 1 took place
		got := w.cancelSeries(1, application.SeriesAll, 0)
		w.thenCalls(canceledCalls(v, 2, 4)...)
		assert.Equal(t, "canceled", got.State)
		assert.Equal(t, "scheduled", got.Occurrences[0].State, "what took place is not canceled")

		_, err = w.app.CancelSeries.Handle(w.ctx, application.CancelSeries{SiteID: Site, ID: seriesID(1), Scope: application.SeriesAll})
		assert.Equal(t, application.CodeTransitionNotAllowed, application.ErrorCode(err), "the series' table refuses")
		w.thenNoCalls()
	})
}

// Issue 16, "done when": a weekly series across a daylight saving change
// stays at the same local time. Berlin moves to summer time on Sunday 31
// March 2030: the series stays at Tuesday 9:00 on the wall clock, so its
// UTC time moves from 08:00 to 07:00, and every payload says 9:00.
func TestWeeklySeriesAcrossADaylightSavingChange(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) { // the site has "reminder 1 day before" (siteAutomations)
		// Given a site in Berlin
		_, err := o.app.SetTimeZone.Handle(o.ctx, application.SetTimeZone{SiteID: Site, TimeZone: "Europe/Berlin"})
		require.NoError(t, err)

		// When a weekly series starts on Tuesday 19 March 2030 at 9:00 Berlin time
		first := time.Date(2030, 3, 19, 8, 0, 0, 0, time.UTC)
		v, err := o.app.ScheduleSeries.Handle(o.ctx, application.ScheduleSeries{SiteID: Site, ID: seriesID(1), ContactID: contactID(1),
			Title: "Physiotherapy", StartsAt: first, EndsAt: first.Add(45 * time.Minute), Every: "week", Count: 4})
		require.NoError(t, err)

		// Then the occurrences after the change start an hour earlier in UTC
		var starts []time.Time
		for _, x := range v.Occurrences {
			starts = append(starts, x.StartsAt)
		}
		assert.Equal(t, []time.Time{first, first.Add(7 * day), time.Date(2030, 4, 2, 7, 0, 0, 0, time.UTC),
			time.Date(2030, 4, 9, 7, 0, 0, 0, time.UTC)}, starts)

		// And every reminder's payload says Tuesday 9:00 in Berlin
		var texts []string
		for _, c := range o.newCalls() {
			if c.TriggerKey != "appointment_starting" {
				continue
			}
			var p map[string]string
			require.NoError(t, json.Unmarshal(c.Payload, &p))
			assert.Equal(t, "Europe/Berlin", p["timeZone"])
			assert.Equal(t, "09:00", p["startsAtLocal"][11:])
			assert.Equal(t, "09:45", p["endsAtLocal"][11:])
			texts = append(texts, p["startsAtText"])
		}
		assert.Equal(t, []string{"Tuesday 19 March 2030, 09:00", "Tuesday 26 March 2030, 09:00",
			"Tuesday 2 April 2030, 09:00", "Tuesday 9 April 2030, 09:00"}, texts)

		// And at Wix the day-before reminders ran at 9:00 Berlin time too
		o.deliver()
		o.sim.Advance(100 * day)
		var ran []time.Time
		for _, r := range o.ran() {
			if r.automation == "reminder 1 day before" {
				ran = append(ran, r.at)
			}
		}
		assert.Equal(t, []time.Time{first.Add(-day), first.Add(6 * day), time.Date(2030, 4, 1, 7, 0, 0, 0, time.UTC),
			time.Date(2030, 4, 8, 7, 0, 0, 0, time.UTC)}, ran)
	})
}
