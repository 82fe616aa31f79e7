package application_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain"
)

// refreshEnv runs commands and asks Refresh Payload about what they queued.
type refreshEnv struct {
	t     *testing.T
	ctx   context.Context
	store *memory.Store
	clock *fake.Clock
	app   *application.App
}

func newRefreshEnv(t *testing.T, c *application.Catalog) *refreshEnv {
	e := &refreshEnv{t: t, ctx: context.Background(), store: memory.New(), clock: fake.NewClock(recT0)}
	app, err := application.New(application.Config{Store: e.store, Catalog: c, Clock: e.clock, IDs: fake.NewIDs("0e000000")})
	require.NoError(t, err)
	e.app = app
	return e
}

// payloadOf returns the payload of the newest report of trigger for entity:
// what Wix holds for it.
func (e *refreshEnv) payloadOf(trigger, entity string) json.RawMessage {
	e.t.Helper()
	calls, err := e.store.List(e.ctx, application.Filter{SiteID: recSite.String(), Limit: 1000})
	require.NoError(e.t, err)
	var p json.RawMessage
	for _, c := range calls {
		if c.Kind == application.KindReport && c.TriggerKey == trigger && c.ExternalEntityID == entity {
			p = c.Payload
		}
	}
	require.NotNil(e.t, p, "no report of %s for %s", trigger, entity)
	return p
}

func (e *refreshEnv) ask(trigger, entity string, payload json.RawMessage) application.RefreshAnswer {
	e.t.Helper()
	a, err := e.app.RefreshPayload.Handle(e.ctx, application.RefreshPayload{SiteID: recSite.String(), TriggerKey: trigger,
		ExternalEntityID: entity, Payload: payload})
	require.NoError(e.t, err)
	return a
}

// still asks about the newest report of trigger for entity and requires the
// current payload.
func (e *refreshEnv) still(trigger, entity string) application.RefreshAnswer {
	e.t.Helper()
	a := e.ask(trigger, entity, e.payloadOf(trigger, entity))
	assert.False(e.t, a.Cancel, "%s of %s: %s", trigger, entity, a.Reason)
	assert.Equal(e.t, application.RefreshCurrent, a.Reason)
	return a
}

func (e *refreshEnv) canceled(trigger, entity string, payload json.RawMessage, reason string) {
	e.t.Helper()
	a := e.ask(trigger, entity, payload)
	assert.True(e.t, a.Cancel, "%s of %s", trigger, entity)
	assert.Equal(e.t, reason, a.Reason, "%s of %s", trigger, entity)
	assert.Nil(e.t, a.Payload)
}

func (e *refreshEnv) appointment(in time.Duration) string {
	v, err := e.app.ScheduleAppointment.Handle(e.ctx, application.ScheduleAppointment{SiteID: recSite,
		ContactID: uuidN("c0000000", 1), Title: "Haircut", StartsAt: recT0.Add(in), EndsAt: recT0.Add(in + time.Hour)})
	require.NoError(e.t, err)
	return v.ID.String()
}

func TestRefreshAppointmentTriggers(t *testing.T) {
	e := newRefreshEnv(t, allOn(t))
	a := e.appointment(48 * time.Hour)
	booked := e.payloadOf("appointment_scheduled", a)
	oldReminder := e.payloadOf("appointment_starting", a)
	e.still("appointment_scheduled", a)
	e.still("appointment_starting", a)

	// Renamed: the reminder Wix holds is still the event; its current payload has the new title.
	_, err := e.app.RenameAppointment.Handle(e.ctx, application.RenameAppointment{SiteID: recSite, ID: domain.MustID(a), Title: "Colouring"})
	require.NoError(t, err)
	got := e.ask("appointment_starting", a, oldReminder)
	require.False(t, got.Cancel)
	assert.Contains(t, string(got.Payload), `"title":"Colouring"`)

	// Rescheduled twice: the old reminder and the first notice are no longer the events.
	var firstNotice json.RawMessage
	for _, h := range []time.Duration{50, 52} {
		_, err := e.app.RescheduleAppointment.Handle(e.ctx, application.RescheduleAppointment{SiteID: recSite, ID: domain.MustID(a),
			StartsAt: recT0.Add(h * time.Hour), EndsAt: recT0.Add((h + 1) * time.Hour)})
		require.NoError(t, err)
		if h == 50 {
			firstNotice = e.payloadOf("appointment_rescheduled", a)
		}
	}
	e.canceled("appointment_rescheduled", a, firstNotice, application.RefreshOtherEvent)
	e.canceled("appointment_starting", a, oldReminder, application.RefreshOtherTime)
	e.still("appointment_starting", a)
	e.still("appointment_rescheduled", a)
	e.still("appointment_scheduled", a)

	// Canceled: everything but the cancel notice stops.
	_, err = e.app.CancelAppointment.Handle(e.ctx, application.CancelAppointment{SiteID: recSite, ID: domain.MustID(a)})
	require.NoError(t, err)
	e.canceled("appointment_scheduled", a, booked, application.RefreshNotCalledFor)
	e.canceled("appointment_starting", a, e.payloadOf("appointment_starting", a), application.RefreshNotCalledFor)
	e.canceled("appointment_rescheduled", a, e.payloadOf("appointment_rescheduled", a), application.RefreshNotCalledFor)
	e.still("appointment_canceled", a)

	// Completed and no-show.
	done, gone := e.appointment(time.Hour), e.appointment(time.Hour)
	e.clock.Advance(2 * time.Hour)
	_, err = e.app.CompleteAppointment.Handle(e.ctx, application.CompleteAppointment{SiteID: recSite, ID: domain.MustID(done)})
	require.NoError(t, err)
	_, err = e.app.MarkNoShow.Handle(e.ctx, application.MarkNoShow{SiteID: recSite, ID: domain.MustID(gone)})
	require.NoError(t, err)
	e.still("appointment_completed", done)
	e.still("appointment_starting", done)
	e.still("appointment_no_show", gone)
	e.canceled("appointment_starting", gone, e.payloadOf("appointment_starting", gone), application.RefreshNotCalledFor)
	e.canceled("appointment_scheduled", gone, e.payloadOf("appointment_scheduled", gone), application.RefreshNotCalledFor)
}

func TestRefreshClassTriggers(t *testing.T) {
	e := newRefreshEnv(t, allOn(t))
	class := uuidN("c1a55000", 1)
	_, err := e.app.ScheduleClass.Handle(e.ctx, application.ScheduleClass{SiteID: recSite, ID: class, Title: "Yoga",
		StartsAt: recT0.Add(48 * time.Hour), EndsAt: recT0.Add(49 * time.Hour), Capacity: 1, Waitlist: true})
	require.NoError(t, err)
	enroll := func(p int) string {
		v, err := e.app.Enroll.Handle(e.ctx, application.Enroll{SiteID: recSite, ClassID: class, ParticipantID: uuidN("9a000000", p)})
		require.NoError(t, err)
		return v.ID.String()
	}
	ann, bob := enroll(1), enroll(2)
	e.still("participant_enrolled_in_class", ann)
	e.still("class_starting", ann)
	e.still("participant_waitlisted", bob)
	waiting := e.payloadOf("participant_waitlisted", bob)
	annReminder := e.payloadOf("class_starting", ann)

	_, err = e.app.RescheduleClass.Handle(e.ctx, application.RescheduleClass{SiteID: recSite, ID: class,
		StartsAt: recT0.Add(50 * time.Hour), EndsAt: recT0.Add(51 * time.Hour)})
	require.NoError(t, err)
	e.canceled("class_starting", ann, annReminder, application.RefreshOtherTime)
	e.still("class_starting", ann)
	e.still("class_rescheduled", ann)

	// Ann leaves; Bob gets her seat.
	_, err = e.app.Leave.Handle(e.ctx, application.Leave{SiteID: recSite, EnrollmentID: domain.MustID(ann)})
	require.NoError(t, err)
	e.canceled("participant_enrolled_in_class", ann, e.payloadOf("participant_enrolled_in_class", ann), application.RefreshNotCalledFor)
	e.canceled("class_starting", ann, e.payloadOf("class_starting", ann), application.RefreshNotCalledFor)
	e.canceled("class_rescheduled", ann, e.payloadOf("class_rescheduled", ann), application.RefreshNotCalledFor)
	e.still("participant_left_class", ann)
	e.canceled("participant_waitlisted", bob, waiting, application.RefreshNotCalledFor)
	e.still("class_starting", bob)

	// The class is canceled.
	_, err = e.app.CancelClass.Handle(e.ctx, application.CancelClass{SiteID: recSite, ID: class, Reason: "storm"})
	require.NoError(t, err)
	e.still("class_canceled", bob)
	e.canceled("class_starting", bob, e.payloadOf("class_starting", bob), application.RefreshNotCalledFor)

	// A completed class: its attendee's completion notice is live.
	held := uuidN("c1a55000", 2)
	_, err = e.app.ScheduleClass.Handle(e.ctx, application.ScheduleClass{SiteID: recSite, ID: held, Title: "Pilates",
		StartsAt: recT0.Add(time.Hour), EndsAt: recT0.Add(2 * time.Hour), Capacity: 5})
	require.NoError(t, err)
	v, err := e.app.Enroll.Handle(e.ctx, application.Enroll{SiteID: recSite, ClassID: held, ParticipantID: uuidN("9a000000", 3)})
	require.NoError(t, err)
	e.clock.Advance(3 * time.Hour)
	_, err = e.app.CompleteClass.Handle(e.ctx, application.CompleteClass{SiteID: recSite, ID: held})
	require.NoError(t, err)
	e.still("class_completed", v.ID.String())
	e.still("class_starting", v.ID.String())
}

func TestRefreshCancelsWhatItCannotVouchFor(t *testing.T) {
	e := newRefreshEnv(t, nil)
	a := e.appointment(48 * time.Hour)
	p := e.payloadOf("appointment_starting", a)
	e.canceled("appointment_no_show", a, p, application.RefreshUnknownKey) // off in the default catalog
	e.canceled("no_such_trigger", a, p, application.RefreshUnknownKey)
	e.canceled("appointment_starting", uuidN("a0000000", 99).String(), p, application.RefreshUnknownEntity)
	e.canceled("appointment_starting", "not-a-uuid", p, application.RefreshUnknownEntity)
	got, err := e.app.RefreshPayload.Handle(e.ctx, application.RefreshPayload{SiteID: "5e000000-0000-4000-8000-0000000000bb",
		TriggerKey: "appointment_starting", ExternalEntityID: a, Payload: p})
	require.NoError(t, err)
	assert.True(t, got.Cancel, "another site's appointment is not found")
	e.canceled("appointment_starting", a, json.RawMessage(`{"startsAt": 12}`), application.RefreshOtherTime)
	e.canceled("appointment_starting", a, json.RawMessage(`not json`), application.RefreshOtherTime)
}

// allOn is the catalog with every optional trigger on.
func allOn(t *testing.T) *application.Catalog {
	on := true
	settings := map[application.Role]application.Setting{}
	for _, r := range application.Roles() {
		settings[r] = application.Setting{Enabled: &on}
	}
	c, err := application.NewCatalog(settings)
	require.NoError(t, err)
	return c
}
