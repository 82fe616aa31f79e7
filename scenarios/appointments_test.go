package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

// scheduleAppointment books appointment n for contact c, starting in `in`
// for one hour.
func (w *world) scheduleAppointment(n, c int, in time.Duration) application.AppointmentView {
	w.t.Helper()
	v, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{
		SiteID: Site, ID: appointmentID(n), ContactID: contactID(c), Title: "Haircut",
		StartsAt: at(in), EndsAt: at(in + time.Hour),
	})
	require.NoError(w.t, err)
	return v
}

// Seed scenario 1, first row: a customer schedules an appointment.
func TestCustomerSchedulesAnAppointment(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// When contact 1 books appointment 1 for two days from now
		v := w.scheduleAppointment(1, 1, 2*day)

		// Then lifecycle reports appointment_scheduled (real-time) and
		// appointment_starting (scheduled at the start), both by the appointment ID.
		assert.Equal(t, "scheduled", v.State)
		calls := w.thenCalls(
			report("appointment_scheduled", appointmentID(1)),
			reportAt("appointment_starting", appointmentID(1), at(2*day)),
		)
		assert.JSONEq(t, `{"appointmentId":"`+appointmentID(1).String()+`","contactId":"`+contactID(1).String()+`",
			"title":"Haircut","startsAt":"2030-01-09T09:00:00Z","endsAt":"2030-01-09T10:00:00Z",
			"startsAtLocal":"2030-01-09T09:00","endsAtLocal":"2030-01-09T10:00","startsAtText":"Wednesday 9 January 2030, 09:00",
			"timeZone":"UTC"}`,
			string(calls[1].Payload), "the payload carries the IDs, the contact, the start as RFC 3339 UTC, "+
				"and the local times in the site's zone (UTC: it set none)")
	})
}

// Seed scenario 1, second row: a customer cancels an appointment.
func TestCustomerCancelsAnAppointment(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given contact 1 has two appointments
		w.scheduleAppointment(1, 1, 2*day)
		w.scheduleAppointment(2, 1, 3*day)
		w.newCalls()

		// When the customer cancels appointment 1
		v, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1), Reason: "ill"})
		require.NoError(t, err)

		// Then: report appointment_canceled, cancel appointment_scheduled,
		// cancel appointment_starting, in that order, all by appointment 1's
		// ID: appointment 2 of the same contact keeps its events.
		assert.Equal(t, "canceled", v.State)
		calls := w.thenCalls(
			report("appointment_canceled", appointmentID(1)),
			cancel("appointment_scheduled", appointmentID(1)),
			cancel("appointment_starting", appointmentID(1)),
		)
		assert.Contains(t, string(calls[0].Payload), `"reason":"ill"`)
		for _, c := range calls {
			assert.NotEqual(t, contactID(1), c.ExternalEntityID, "never cancel by contact ID")
		}
	})
}

func TestAppointmentRescheduled(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given appointment 1 starts in two days
		w.scheduleAppointment(1, 1, 2*day)
		w.newCalls()

		// When it moves to five days from now
		v, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{
			SiteID: Site, ID: appointmentID(1), StartsAt: at(5 * day), EndsAt: at(5*day + time.Hour)})
		require.NoError(t, err)

		// Then the old reminder is canceled before the new one is reported,
		// so the cancel cannot remove the new event. The confirmation stays.
		assert.Equal(t, at(5*day), v.StartsAt)
		w.thenCalls(
			cancel("appointment_starting", appointmentID(1)),
			reportAt("appointment_starting", appointmentID(1), at(5*day)),
		)
	})
}

func TestAppointmentCompletedOrNoShowGetDifferentFollowUps(t *testing.T) {
	on := true
	catalog, err := application.NewCatalog(map[application.Role]application.Setting{
		application.RoleAppointmentCompleted:   {Enabled: &on},
		application.RoleAppointmentNoShow:      {Enabled: &on},
		application.RoleAppointmentRescheduled: {Enabled: &on},
	})
	require.NoError(t, err)
	eachStoreWithCatalog(t, catalog, func(t *testing.T, w *world) {
		// Given two appointments starting in an hour, with the optional
		// triggers on
		w.scheduleAppointment(1, 1, time.Hour)
		w.scheduleAppointment(2, 2, time.Hour)
		w.newCalls()
		w.clock.Advance(90 * time.Minute)

		// When one took place and the other's contact did not come
		_, err := w.app.CompleteAppointment.Handle(w.ctx, application.CompleteAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		_, err = w.app.MarkNoShow.Handle(w.ctx, application.MarkNoShow{SiteID: Site, ID: appointmentID(2)})
		require.NoError(t, err)

		// Then each gets its own trigger, so automations can differ; the
		// visit that did not happen also loses its booking's and its
		// reminder's remaining actions ("2 days after: ask for a review").
		w.thenCalls(
			report("appointment_completed", appointmentID(1)),
			report("appointment_no_show", appointmentID(2)),
			cancel("appointment_scheduled", appointmentID(2)),
			cancel("appointment_starting", appointmentID(2)),
		)
	})
}

func TestOptionalRescheduleNoticeComesFirst(t *testing.T) {
	on := true
	catalog, err := application.NewCatalog(map[application.Role]application.Setting{
		application.RoleAppointmentRescheduled: {Enabled: &on},
		application.RoleAppointmentStarting:    {Key: "myapp-appointment-reminder"},
	})
	require.NoError(t, err)
	eachStoreWithCatalog(t, catalog, func(t *testing.T, w *world) {
		w.scheduleAppointment(1, 1, 2*day)
		w.thenCalls(
			report("appointment_scheduled", appointmentID(1)),
			reportAt("myapp-appointment-reminder", appointmentID(1), at(2*day)),
		)
		_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{
			SiteID: Site, ID: appointmentID(1), StartsAt: at(3 * day), EndsAt: at(3*day + time.Hour)})
		require.NoError(t, err)
		calls := w.thenCalls(
			report("appointment_rescheduled", appointmentID(1)),
			cancel("myapp-appointment-reminder", appointmentID(1)),
			reportAt("myapp-appointment-reminder", appointmentID(1), at(3*day)),
		)
		assert.Contains(t, string(calls[0].Payload), `"previousStartsAt":"2030-01-09T09:00:00Z"`)
	})
}

func TestTwoReschedulesInOneInstantAreTwoNotices(t *testing.T) {
	on := true
	catalog, err := application.NewCatalog(map[application.Role]application.Setting{
		application.RoleAppointmentRescheduled: {Enabled: &on},
	})
	require.NoError(t, err)
	eachStoreWithCatalog(t, catalog, func(t *testing.T, w *world) {
		// Given appointment 1 starts in two days, and is "rescheduled" to
		// the same time (its reminder stays; a notice is reported)
		w.scheduleAppointment(1, 1, 2*day)
		reschedule := func(start time.Duration) {
			_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{
				SiteID: Site, ID: appointmentID(1), StartsAt: at(start), EndsAt: at(start + time.Hour)})
			require.NoError(t, err)
		}
		reschedule(2 * day)
		w.newCalls()

		// When, within the same millisecond, it really moves
		reschedule(3 * day)

		// Then the second notice replaces the first (a notice is one
		// reschedule, from one start to another, not one instant), and the
		// reminder moves.
		w.thenCalls(
			cancel("appointment_rescheduled", appointmentID(1)),
			report("appointment_rescheduled", appointmentID(1)),
			cancel("appointment_starting", appointmentID(1)),
			reportAt("appointment_starting", appointmentID(1), at(3*day)),
		)
	})
}

func TestIdempotentScheduleWithCallerID(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		first := w.scheduleAppointment(1, 1, 2*day)
		w.newCalls()
		// When the same booking is sent again (a client retry)
		again := w.scheduleAppointment(1, 1, 2*day)
		// Then it returns the same appointment and queues nothing.
		assert.Equal(t, first, again)
		w.thenNoCalls()
	})
}
