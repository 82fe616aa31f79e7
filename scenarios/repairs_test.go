package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

// The repair scenarios tell what an operator can and cannot do once Wix
// refused calls: retrying a dead letter never brings back an event the
// booking no longer calls for (only the newest call of a trigger and
// entity may be retried), and reconcile makes Wix match the bookings.

// drain delivers what is due, dead letters allowed.
func (o *outcomes) drain() {
	o.t.Helper()
	require.NoError(o.t, o.relay.Drain(o.ctx))
}

// refuse makes Wix refuse the next n requests of endpoint naming entity
// with status (a 428: the trigger is not configured yet).
func (o *outcomes) refuse(endpoint wixsim.Endpoint, id domain.ID, status, n int) {
	entity := id.String()
	o.sim.Inject(wixsim.Fault{Endpoint: endpoint, Site: Site.String(), EntityID: entity, Status: status, Times: n})
}

// callOf returns the newest call of kind and trigger for entity.
func (o *outcomes) callOf(kind application.CallKind, trigger string, id domain.ID) application.Call {
	entity := id.String()
	o.t.Helper()
	calls, err := o.outbox.List(o.ctx, application.Filter{SiteID: Site.String(), Limit: 1000})
	require.NoError(o.t, err)
	var found *application.Call
	for i, c := range calls {
		if c.Kind == kind && c.TriggerKey == trigger && c.ExternalEntityID == entity {
			found = &calls[i]
		}
	}
	require.NotNil(o.t, found, "no %s %s for %s", kind, trigger, entity)
	return *found
}

// retry asks the outbox to retry a call, as `lifecycle outbox retry` does.
func (o *outcomes) retry(c application.Call) error {
	return o.outbox.Retry(o.ctx, Site.String(), c.ID, o.clock.Now())
}

// reconcile runs reconcile on the site and returns its repairs.
func (o *outcomes) reconcile(dryRun bool) []application.Repair {
	o.t.Helper()
	var got []application.Repair
	_, err := o.app.Reconcile.Handle(o.ctx, application.Reconcile{SiteID: Site, DryRun: dryRun},
		func(r application.Repair) error { got = append(got, r); return nil })
	require.NoError(o.t, err)
	return got
}

// live lists the triggers of the events live at Wix for entity.
func (o *outcomes) live(id domain.ID) []string {
	entity := id.String()
	var out []string
	for _, ev := range o.sim.LiveEvents(Site.String()) {
		if ev.ExternalEntityID == entity {
			out = append(out, ev.TriggerKey)
		}
	}
	return out
}

func TestRepairRetryOfADeadReportAfterACancelIsRefused(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		// Given Jane books an appointment while Wix refuses its reports (the
		// app's triggers are not configured yet)
		o.refuse(wixsim.EndpointReport, appointmentID(1), 428, 2)
		o.scheduleAppointment(1, 1, 5*day)
		o.drain()
		confirmation := o.callOf(application.KindReport, "appointment_scheduled", appointmentID(1))
		reminder := o.callOf(application.KindReport, "appointment_starting", appointmentID(1))
		assert.Equal(t, application.StateDead, o.get(confirmation).State)
		assert.Equal(t, application.StateDead, o.get(reminder).State)

		// When she cancels it, and the cancels are delivered
		_, err := o.app.CancelAppointment.Handle(o.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		o.drain()

		// Then the dead reports are superseded: they are not dead letters to act on
		assert.Equal(t, application.StateSuperseded, o.get(confirmation).State)
		assert.Equal(t, application.StateSuperseded, o.get(reminder).State)
		// And when the operator fixes the triggers and retries them, as the
		// dead letters once invited, each is refused, naming the newer call
		for _, c := range []application.Call{confirmation, reminder} {
			err := o.retry(c)
			var sup *outbox.SupersededError
			require.ErrorAs(t, err, &sup)
			assert.Equal(t, o.callOf(application.KindCancel, c.TriggerKey, appointmentID(1)).ID, sup.NewerID)
		}
		// And reconcile finds nothing to repair
		assert.Empty(t, o.reconcile(false))
		o.drain()
		// And a week later no confirmation, follow-up or reminder ran for
		// the canceled appointment
		o.sim.Advance(7 * day)
		assert.Empty(t, o.ranFor(appointmentID(1)))
		assert.Equal(t, []string{"appointment_canceled"}, o.live(appointmentID(1)), "only the cancel notice is live")
	})
}

func TestRepairRescheduledReminderIsSentOnceAtTheNewTime(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		// Given Jane books while Wix refuses the reports
		o.refuse(wixsim.EndpointReport, appointmentID(1), 428, 2)
		o.scheduleAppointment(1, 1, 5*day)
		o.drain()
		oldReminder := o.callOf(application.KindReport, "appointment_starting", appointmentID(1))
		// When she moves it a day later, and the triggers are fixed
		o.clock.Advance(day)
		_, err := o.app.RescheduleAppointment.Handle(o.ctx, application.RescheduleAppointment{
			SiteID: Site, ID: appointmentID(1), StartsAt: at(6 * day), EndsAt: at(6*day + time.Hour)})
		require.NoError(t, err)
		o.drain()
		// Then retrying the old reminder is refused, and the confirmation,
		// which the booking still calls for, may be retried
		assert.ErrorIs(t, o.retry(oldReminder), outbox.ErrSuperseded)
		require.NoError(t, o.retry(o.callOf(application.KindReport, "appointment_scheduled", appointmentID(1))))
		o.deliver()
		// And the reminder ran once, a day before the new start
		o.sim.Advance(10 * day)
		assert.ElementsMatch(t, []ran{
			{"confirmation", appointmentID(1).String(), at(day)},
			{"follow-up 3 days after booking", appointmentID(1).String(), at(4 * day)},
			{"reminder 1 day before", appointmentID(1).String(), at(5 * day)},
		}, o.ranFor(appointmentID(1)))
	})
}

func TestRepairParticipantWhoLeftGetsNothing(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		// Given Ann enrolls in a class while Wix refuses the enrollment's reports
		o.scheduleClass(1, 10, false, 3*day)
		o.clock.Advance(time.Minute)
		e := o.enroll(1, 1)
		o.refuse(wixsim.EndpointReport, e.ID, 428, 2)
		o.drain()
		// When she leaves
		o.leave(e)
		o.drain()
		// Then neither dead report may be retried, and nothing ran for her
		for _, trigger := range []string{"participant_enrolled_in_class", "class_starting"} {
			assert.ErrorIs(t, o.retry(o.callOf(application.KindReport, trigger, e.ID)), outbox.ErrSuperseded, trigger)
		}
		assert.Empty(t, o.reconcile(false))
		o.sim.Advance(7 * day)
		assert.Empty(t, o.ranFor(e.ID))
	})
}

func TestRepairReconcileRemovesTheReminderADeadCancelLeftBehind(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		// Given Jane's appointment and its reminder at Wix
		o.scheduleAppointment(1, 1, 5*day)
		o.deliver()
		// When she moves it while Wix refuses the cancel of the old reminder
		o.refuse(wixsim.EndpointCancel, appointmentID(1), 403, 1)
		_, err := o.app.RescheduleAppointment.Handle(o.ctx, application.RescheduleAppointment{
			SiteID: Site, ID: appointmentID(1), StartsAt: at(6 * day), EndsAt: at(6*day + time.Hour)})
		require.NoError(t, err)
		o.drain()
		// Then the old and the new reminder are both live
		assert.ElementsMatch(t, []string{"appointment_scheduled", "appointment_starting", "appointment_starting"}, o.live(appointmentID(1)))
		// And retrying the dead cancel is refused: it would remove the new reminder too
		deadCancel := o.callOf(application.KindCancel, "appointment_starting", appointmentID(1))
		assert.ErrorIs(t, o.retry(deadCancel), outbox.ErrSuperseded)
		// When the operator reconciles (a dry run first shows the plan)
		plan := o.reconcile(true)
		require.Len(t, plan, 2)
		assert.Equal(t, application.KindCancel, plan[0].Kind)
		assert.Equal(t, application.ReasonUnsure, plan[0].Reason)
		assert.Equal(t, application.KindReport, plan[1].Kind)
		assert.True(t, plan[1].ScheduledAt.Equal(at(6*day)))
		assert.Len(t, o.reconcile(false), 2)
		o.deliver()
		assert.Empty(t, o.reconcile(false), "a second run queues nothing")
		// Then only the new reminder is live, and it runs once, at the new time
		assert.ElementsMatch(t, []string{"appointment_scheduled", "appointment_starting"}, o.live(appointmentID(1)))
		o.sim.Advance(10 * day)
		var reminders []ran
		for _, r := range o.ranFor(appointmentID(1)) {
			if r.automation == "reminder 1 day before" {
				reminders = append(reminders, r)
			}
		}
		assert.Equal(t, []ran{{"reminder 1 day before", appointmentID(1).String(), at(5 * day)}}, reminders)
	})
}

func (o *outcomes) get(c application.Call) application.CallDetail {
	o.t.Helper()
	d, err := o.outbox.Get(o.ctx, Site.String(), c.ID)
	require.NoError(o.t, err)
	return d
}
