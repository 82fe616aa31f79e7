package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

// Counterexamples the property test found, kept as plain scenarios.

// TestRegressionSubSecondStartReachesWixExactly: the property test's first
// counterexample. A start with a fraction of a second (the HTTP API takes
// "2030-01-07T10:00:00.5Z") was stored and kept on the call's ScheduledAt,
// but the payload carried it cut to the whole second, so Wix held the
// appointment_starting event half a second before the appointment. Worse,
// in that last half second the relay judged the report not yet expired
// while Wix refused its date-time as past: a dead letter, not an expired
// call. The date-time Wix gets must be the stored start.
func TestRegressionSubSecondStartReachesWixExactly(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		start := at(time.Hour + 500*time.Millisecond)
		_, err := o.app.ScheduleAppointment.Handle(o.ctx, application.ScheduleAppointment{
			SiteID: Site, ID: appointmentID(1), ContactID: contactID(1), Title: "Haircut",
			StartsAt: start, EndsAt: start.Add(time.Hour)})
		require.NoError(t, err)
		stored, err := o.app.GetAppointment.Handle(o.ctx, application.GetAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)

		// When the relay reaches the reminder a quarter of a second before
		// the start (and after the whole second the payload was cut to)
		o.clock.Set(start.Add(-250 * time.Millisecond))
		require.NoError(t, o.relay.Drain(o.ctx))

		// Then it is live at Wix at the stored start, or expired; never dead.
		stats, err := o.outbox.Stats(o.ctx, Site.String())
		require.NoError(t, err)
		assert.Zero(t, stats[application.StateDead], "a report still ahead of its time is not refused")
		for _, ev := range o.sim.LiveEvents(Site.String()) {
			if ev.TriggerKey == "appointment_starting" {
				assert.True(t, ev.At.Equal(stored.StartsAt), "Wix holds %s, the appointment starts %s", ev.At, stored.StartsAt)
			}
		}
	})
}
