package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

// The outcome scenarios go one step further than the call scenarios: the
// calls are delivered by the relay to the Wix simulator, on which the site
// owner has built automations, and the scenario checks which automations
// ran, when, and which never did.
var siteAutomations = []wixsim.Automation{
	{Name: "confirmation", TriggerKey: "appointment_scheduled"},
	{Name: "follow-up 3 days after booking", TriggerKey: "appointment_scheduled", Offset: 72 * time.Hour},
	{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour},
	{Name: "welcome to class", TriggerKey: "participant_enrolled_in_class"},
	{Name: "class reminder 1 hour before", TriggerKey: "class_starting", Offset: -time.Hour},
	{Name: "class canceled notice", TriggerKey: "class_canceled"},
}

// outcomes is a world whose calls reach a simulated Wix.
type outcomes struct {
	*world
	sim   *wixsim.Sim
	relay *relay.Relay
}

func eachStoreWithWix(t *testing.T, scenario func(t *testing.T, o *outcomes)) {
	eachStore(t, func(t *testing.T, w *world) {
		sim := wixsim.New(w.clock)
		require.NoError(t, sim.RegisterTriggers(w.app.Catalog()))
		for _, a := range siteAutomations {
			require.NoError(t, sim.AddAutomation(Site.String(), a))
		}
		relay, err := relay.New(relay.Config{
			Outbox: w.outbox, Gateway: sim, Clock: w.clock, RequestsPerMinute: relay.NoRateLimit,
		})
		require.NoError(t, err)
		scenario(t, &outcomes{world: w, sim: sim, relay: relay})
	})
}

// deliver drains the outbox to the simulator.
func (o *outcomes) deliver() {
	o.t.Helper()
	require.NoError(o.t, o.relay.Drain(o.ctx))
	stats, err := o.outbox.Stats(o.ctx, "")
	require.NoError(o.t, err)
	require.Zero(o.t, stats[application.StatePending], "drained")
	require.Zero(o.t, stats[application.StateDead], "no dead letters")
}

// ran lists, in order, "automation -> entity @ time" for every action that
// ran on the site.
type ran struct {
	automation, entity string
	at                 time.Time
}

func (o *outcomes) ran() []ran {
	var out []ran
	for _, a := range o.sim.Activations(Site.String(), wixsim.ActivationRan) {
		out = append(out, ran{a.Automation, a.ExternalEntityID, a.SettledAt})
	}
	return out
}

func (o *outcomes) ranFor(id domain.ID) []ran {
	entity := id.String()
	var out []ran
	for _, r := range o.ran() {
		if r.entity == entity {
			out = append(out, r)
		}
	}
	return out
}

func (o *outcomes) canceledFor(id domain.ID) []string {
	entity := id.String()
	var out []string
	for _, a := range o.sim.Activations(Site.String(), wixsim.ActivationCanceled) {
		if a.ExternalEntityID == entity {
			out = append(out, a.Automation)
		}
	}
	return out
}

func TestOutcomeCanceledAppointmentGetsNoReminderNorFollowUp(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		// Given Jane booked two appointments in five days
		o.scheduleAppointment(1, 1, 5*day)
		o.scheduleAppointment(2, 1, 5*day)
		o.deliver()
		// When she cancels the first a day later
		o.clock.Advance(day)
		_, err := o.app.CancelAppointment.Handle(o.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		o.deliver()
		// And a week passes
		o.sim.Advance(7 * day)

		// Then the canceled appointment got its confirmation only: its
		// reminder and follow-up were canceled before they ran.
		assert.Equal(t, []ran{{"confirmation", appointmentID(1).String(), at(0)}}, o.ranFor(appointmentID(1)))
		assert.ElementsMatch(t, []string{"follow-up 3 days after booking", "reminder 1 day before"}, o.canceledFor(appointmentID(1)))
		// And the other appointment of the same contact kept everything.
		assert.Equal(t, []ran{
			{"confirmation", appointmentID(2).String(), at(0)},
			{"follow-up 3 days after booking", appointmentID(2).String(), at(3 * day)},
			{"reminder 1 day before", appointmentID(2).String(), at(4 * day)},
		}, o.ranFor(appointmentID(2)))
	})
}

func TestOutcomeRescheduledReminderRunsOnceAtTheNewTime(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		o.scheduleAppointment(1, 1, 3*day)
		o.deliver()
		// When the appointment moves from day 3 to day 6
		_, err := o.app.RescheduleAppointment.Handle(o.ctx, application.RescheduleAppointment{
			SiteID: Site, ID: appointmentID(1), StartsAt: at(6 * day), EndsAt: at(6*day + time.Hour)})
		require.NoError(t, err)
		o.deliver()
		o.sim.Advance(10 * day)

		// Then the reminder ran exactly once, a day before the new start;
		// the old one was canceled.
		var reminders []ran
		for _, r := range o.ranFor(appointmentID(1)) {
			if r.automation == "reminder 1 day before" {
				reminders = append(reminders, r)
			}
		}
		assert.Equal(t, []ran{{"reminder 1 day before", appointmentID(1).String(), at(5 * day)}}, reminders)
		assert.Equal(t, []string{"reminder 1 day before"}, o.canceledFor(appointmentID(1)))
	})
}

func TestOutcomeParticipantWhoLeftGetsNoClassReminder(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		o.scheduleClass(1, 10, false, 2*day)
		stays := o.enroll(1, 1)
		leaves := o.enroll(1, 2)
		o.deliver()
		o.clock.Advance(time.Hour)
		o.leave(leaves)
		o.deliver()
		o.sim.Advance(3 * day)

		assert.Equal(t, []ran{
			{"welcome to class", stays.ID.String(), at(0)},
			{"class reminder 1 hour before", stays.ID.String(), at(2*day - time.Hour)},
		}, o.ranFor(stays.ID))
		assert.Equal(t, []ran{{"welcome to class", leaves.ID.String(), at(0)}}, o.ranFor(leaves.ID))
		assert.Equal(t, []string{"class reminder 1 hour before"}, o.canceledFor(leaves.ID))
	})
}

func TestOutcomeCanceledClassParticipantsGetTheNoticeAndNoReminder(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		o.scheduleClass(1, 10, false, 2*day)
		o.scheduleClass(2, 10, false, 2*day)
		a, b := o.enroll(1, 1), o.enroll(1, 2)
		other := o.enroll(2, 1) // participant 1 is also in class 2
		o.deliver()
		o.clock.Advance(time.Hour)
		_, err := o.app.CancelClass.Handle(o.ctx, application.CancelClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)
		o.deliver()
		o.sim.Advance(3 * day)

		for _, e := range []application.EnrollmentView{a, b} {
			assert.Equal(t, []ran{
				{"welcome to class", e.ID.String(), at(0)},
				{"class canceled notice", e.ID.String(), at(time.Hour)},
			}, o.ranFor(e.ID))
			assert.Equal(t, []string{"class reminder 1 hour before"}, o.canceledFor(e.ID))
		}
		// Participant 1's other class is untouched: canceling by enrollment
		// ID never reaches it (by participant ID it would have).
		assert.Equal(t, []ran{
			{"welcome to class", other.ID.String(), at(0)},
			{"class reminder 1 hour before", other.ID.String(), at(2*day - time.Hour)},
		}, o.ranFor(other.ID))
	})
}

func TestOutcomeThreeHundredParticipantClassCancelIsNineRequests(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		o.scheduleClass(1, 300, false, 2*day)
		for p := 1; p <= 300; p++ {
			o.enroll(1, p)
		}
		o.deliver()
		before := o.sim.RequestCount(Site.String())
		_, err := o.app.CancelClass.Handle(o.ctx, application.CancelClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)
		o.deliver()
		assert.Equal(t, 9, o.sim.RequestCount(Site.String())-before, "3 calls x 300 participants in bulk requests of 100")
		o.sim.Advance(3 * day)
		notices := 0
		for _, r := range o.ran() {
			assert.NotEqual(t, "class reminder 1 hour before", r.automation)
			if r.automation == "class canceled notice" {
				notices++
			}
		}
		assert.Equal(t, 300, notices)
	})
}
