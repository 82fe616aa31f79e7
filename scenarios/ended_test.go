package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
)

// The ended scenarios: every trigger, default or optional, is canceled when
// its events stop being true, so that no delayed action runs for a visit
// that did not happen, a booking canceled after a reschedule, or a waitlist
// place that ended.

// eachStoreWithWixCatalog is eachStoreWithWix with the app's own catalog and
// the site's own automations.
func eachStoreWithWixCatalog(t *testing.T, c *application.Catalog, autos []wixsim.Automation, scenario func(t *testing.T, o *outcomes)) {
	eachStoreWithCatalog(t, c, func(t *testing.T, w *world) {
		sim := wixsim.New(w.clock)
		require.NoError(t, sim.RegisterTriggers(c))
		for _, a := range autos {
			require.NoError(t, sim.AddAutomation(Site.String(), a))
		}
		relay, err := relay.New(relay.Config{
			Outbox: w.outbox, Gateway: sim, Clock: w.clock, RequestsPerMinute: relay.NoRateLimit,
		})
		require.NoError(t, err)
		scenario(t, &outcomes{world: w, sim: sim, relay: relay})
	})
}

// withOptional is the default catalog with the optional roles turned on.
func withOptional(t *testing.T, roles ...application.Role) *application.Catalog {
	on := true
	settings := map[application.Role]application.Setting{}
	for _, r := range roles {
		settings[r] = application.Setting{Enabled: &on}
	}
	c, err := application.NewCatalog(settings)
	require.NoError(t, err)
	return c
}

func TestEndedNoShowStopsTheVisitsFollowUps(t *testing.T) {
	autos := []wixsim.Automation{
		{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -day},
		{Name: "review request 2 days after the visit", TriggerKey: "appointment_starting", Offset: 2 * day},
		{Name: "thanks 4 days after booking", TriggerKey: "appointment_scheduled", Offset: 4 * day},
	}
	eachStoreWithWixCatalog(t, application.DefaultCatalog(), autos, func(t *testing.T, o *outcomes) {
		// Given Jane's appointment in two days, its reminder already sent
		o.scheduleAppointment(1, 1, 2*day)
		o.deliver()
		o.sim.Advance(day + time.Hour)
		// When she does not come
		o.clock.Set(at(2*day + time.Hour))
		_, err := o.app.MarkNoShow.Handle(o.ctx, application.MarkNoShow{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		o.deliver()
		o.sim.Advance(7 * day)
		// Then no review request and no thanks run for a visit that did not
		// happen, and nothing of hers is live
		assert.Equal(t, []ran{{"reminder 1 day before", appointmentID(1).String(), at(day)}}, o.ranFor(appointmentID(1)))
		assert.ElementsMatch(t, []string{"review request 2 days after the visit", "thanks 4 days after booking"},
			o.canceledFor(appointmentID(1)))
		assert.Empty(t, o.live(appointmentID(1)))
	})
}

func TestEndedRescheduleNoticeIsCanceledWithTheAppointment(t *testing.T) {
	autos := []wixsim.Automation{
		{Name: "how was the new time? 3 days after", TriggerKey: "appointment_rescheduled", Offset: 3 * day},
	}
	catalog := withOptional(t, application.RoleAppointmentRescheduled)
	eachStoreWithWixCatalog(t, catalog, autos, func(t *testing.T, o *outcomes) {
		// Given Jane moved her appointment once, then again
		o.scheduleAppointment(1, 1, 5*day)
		for _, d := range []time.Duration{6 * day, 7 * day} {
			_, err := o.app.RescheduleAppointment.Handle(o.ctx, application.RescheduleAppointment{
				SiteID: Site, ID: appointmentID(1), StartsAt: at(d), EndsAt: at(d + time.Hour)})
			require.NoError(t, err)
			o.deliver()
		}
		// Then only the last notice is live
		assert.Equal(t, []string{"appointment_rescheduled"}, filter(o.live(appointmentID(1)), "appointment_rescheduled"))
		// When she cancels
		o.clock.Advance(day)
		_, err := o.app.CancelAppointment.Handle(o.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		o.deliver()
		o.sim.Advance(7 * day)
		// Then no follow-up of either notice runs, and only the cancel is live
		assert.Empty(t, o.ranFor(appointmentID(1)))
		assert.Equal(t, []string{"appointment_canceled"}, o.live(appointmentID(1)))
	})
}

func TestEndedWaitlistPlaceIsCanceledWhenItEnds(t *testing.T) {
	autos := []wixsim.Automation{
		{Name: "still waiting? 1 day later", TriggerKey: "participant_waitlisted", Offset: day},
		{Name: "class reminder 1 hour before", TriggerKey: "class_starting", Offset: -time.Hour},
	}
	catalog := withOptional(t, application.RoleParticipantWaitlisted)
	eachStoreWithWixCatalog(t, catalog, autos, func(t *testing.T, o *outcomes) {
		// Given a full class of one seat with Bob and Carol on its waitlist
		o.scheduleClass(1, 1, true, 3*day)
		ann := o.enroll(1, 1)
		bob := o.enroll(1, 2)
		carol := o.enroll(1, 3)
		o.deliver()
		// When Ann leaves (Bob gets the seat) and Carol leaves the waitlist
		o.leave(ann)
		o.leave(carol)
		o.deliver()
		o.sim.Advance(5 * day)
		// Then neither is asked whether they are still waiting
		assert.Empty(t, o.ranFor(carol.ID))
		assert.Equal(t, []ran{{"class reminder 1 hour before", bob.ID.String(), at(3*day - time.Hour)}}, o.ranFor(bob.ID))
		assert.Empty(t, o.live(carol.ID))
		assert.ElementsMatch(t, []string{"participant_enrolled_in_class", "class_starting"}, o.live(bob.ID))
	})
}

func TestEndedClassMoveNoticeIsCanceledWhenTheParticipantLeaves(t *testing.T) {
	autos := []wixsim.Automation{
		{Name: "new time okay? 2 days after the move", TriggerKey: "class_rescheduled", Offset: 2 * day},
	}
	catalog := withOptional(t, application.RoleClassRescheduled)
	eachStoreWithWixCatalog(t, catalog, autos, func(t *testing.T, o *outcomes) {
		// Given Ann's class moved a day later
		o.scheduleClass(1, 5, false, 5*day)
		ann := o.enroll(1, 1)
		_, err := o.app.RescheduleClass.Handle(o.ctx, application.RescheduleClass{
			SiteID: Site, ID: classID(1), StartsAt: at(6 * day), EndsAt: at(6*day + time.Hour)})
		require.NoError(t, err)
		o.deliver()
		// When she leaves the next day
		o.clock.Advance(day)
		o.leave(ann)
		o.deliver()
		o.sim.Advance(7 * day)
		// Then the move's follow-up does not run, and only her leaving is live
		assert.Empty(t, o.ranFor(ann.ID))
		assert.Equal(t, []string{"participant_left_class"}, o.live(ann.ID))
	})
}

func filter(xs []string, keep string) []string {
	var out []string
	for _, x := range xs {
		if x == keep {
			out = append(out, x)
		}
	}
	return out
}
