package scenarios

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

// The time zone scenarios: payloads show their times on the site's wall
// clock, and a change of the site's zone reaches Wix through reconcile.

func TestPayloadsShowTheSitesLocalTime(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given a site in New York
		v, err := w.app.SetTimeZone.Handle(w.ctx, application.SetTimeZone{SiteID: Site, TimeZone: "America/New_York"})
		require.NoError(t, err)
		assert.Equal(t, "America/New_York", v.TimeZone)
		w.thenNoCalls()

		// When Jane books for 14:00 UTC
		w.scheduleAppointment(1, 1, 2*day+5*time.Hour)

		// Then the reminder says 9:00 in New York, beside the UTC instant
		calls := w.thenCalls(report("appointment_scheduled", appointmentID(1)),
			reportAt("appointment_starting", appointmentID(1), at(2*day+5*time.Hour)))
		var p map[string]string
		require.NoError(t, json.Unmarshal(calls[1].Payload, &p))
		assert.Equal(t, "2030-01-09T14:00:00Z", p["startsAt"])
		assert.Equal(t, "2030-01-09T09:00", p["startsAtLocal"])
		assert.Equal(t, "Wednesday 9 January 2030, 09:00", p["startsAtText"])
		assert.Equal(t, "America/New_York", p["timeZone"])
	})
}

// Changing a site's zone changes the payloads: the command queues nothing,
// reconcile reports again each scheduled event whose payload changed
// (cancel first) and sends no real-time event twice, and a second
// reconcile finds nothing to do.
func TestChangingTheSitesZoneIsReconciled(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleAppointment(1, 1, 2*day)
		w.scheduleCourse(1, 5, 1, 3*day)
		e := w.enrollInCourse(1, 1)
		w.newCalls()

		_, err := w.app.SetTimeZone.Handle(w.ctx, application.SetTimeZone{SiteID: Site, TimeZone: "Europe/Berlin"})
		require.NoError(t, err)
		w.thenNoCalls()

		sum, err := w.app.Reconcile.Handle(w.ctx, application.Reconcile{SiteID: Site}, nil)
		require.NoError(t, err)
		assert.Equal(t, 4, sum.Repairs)
		calls := w.thenCalls(
			cancel("appointment_starting", appointmentID(1)),
			reportAt("appointment_starting", appointmentID(1), at(2*day)),
			cancel("course_session_starting", seat(e, 1)),
			reportAt("course_session_starting", seat(e, 1), at(3*day)),
		)
		var p map[string]string
		require.NoError(t, json.Unmarshal(calls[1].Payload, &p))
		assert.Equal(t, "2030-01-09T10:00", p["startsAtLocal"], "09:00 UTC is 10:00 in Berlin in January")

		sum, err = w.app.Reconcile.Handle(w.ctx, application.Reconcile{SiteID: Site}, nil)
		require.NoError(t, err)
		assert.Zero(t, sum.Repairs, "Wix matches")
		w.thenNoCalls()

		// Setting the zone the site has changes nothing.
		v, err := w.app.SetTimeZone.Handle(w.ctx, application.SetTimeZone{SiteID: Site, TimeZone: "Europe/Berlin"})
		require.NoError(t, err)
		assert.Equal(t, int64(1), v.Version)
	})
}
