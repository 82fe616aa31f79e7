package application_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain"
)

var (
	idemSite    = domain.MustSiteID("5e000000-0000-4000-8000-0000000000e1")
	idemOther   = domain.MustSiteID("5e000000-0000-4000-8000-0000000000e2")
	idemContact = domain.MustID("c0000000-0000-4000-8000-0000000000e1")
)

var idemT0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

func newIdemApp(t *testing.T) (*application.App, *memory.Store, *fake.Clock) {
	t.Helper()
	store, clock := memory.New(), fake.NewClock(idemT0)
	app, err := application.New(application.Config{Store: store, Clock: clock, IDs: fake.NewIDs("0000000d")})
	require.NoError(t, err)
	return app, store, clock
}

func countCalls(t *testing.T, store *memory.Store) int {
	t.Helper()
	calls, err := store.List(context.Background(), application.Filter{Limit: 1000})
	require.NoError(t, err)
	return len(calls)
}

func TestIdempotentCommands(t *testing.T) {
	ctx := context.Background()
	app, store, clock := newIdemApp(t)
	schedule := application.ScheduleAppointment{SiteID: idemSite, ContactID: idemContact,
		StartsAt: idemT0.Add(48 * time.Hour), EndsAt: idemT0.Add(49 * time.Hour), IdempotencyKey: "create-1"}
	first, err := app.ScheduleAppointment.Handle(ctx, schedule)
	require.NoError(t, err)
	again, err := app.ScheduleAppointment.Handle(ctx, schedule)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a replay returns the first result, not a new appointment with a new minted ID")
	assert.Equal(t, 2, countCalls(t, store), "and queues nothing more")

	other := schedule
	other.Title = "something else"
	_, err = app.ScheduleAppointment.Handle(ctx, other)
	require.ErrorIs(t, err, application.ErrIdempotencyKeyReused)
	assert.Equal(t, application.CodeIdempotencyKeyReused, application.ErrorCode(err))
	assert.Equal(t, 2, countCalls(t, store))

	onOtherSite := schedule
	onOtherSite.SiteID = idemOther
	elsewhere, err := app.ScheduleAppointment.Handle(ctx, onOtherSite)
	require.NoError(t, err, "keys are per site")
	assert.NotEqual(t, first.ID, elsewhere.ID)

	move := application.RescheduleAppointment{SiteID: idemSite, ID: first.ID, StartsAt: idemT0.Add(72 * time.Hour),
		EndsAt: idemT0.Add(73 * time.Hour), IdempotencyKey: "move-1"}
	moved, err := app.RescheduleAppointment.Handle(ctx, move)
	require.NoError(t, err)
	calls := countCalls(t, store)
	_, err = app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: idemSite, ID: first.ID})
	require.NoError(t, err)
	replay, err := app.RescheduleAppointment.Handle(ctx, move)
	require.NoError(t, err)
	assert.Equal(t, moved, replay, "the first answer, though the appointment was canceled since")
	assert.Equal(t, calls+3, countCalls(t, store), "the cancel's three calls and nothing of the replay")

	// A refused command stores nothing: the key stays free.
	_, err = app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: idemSite, ID: first.ID, IdempotencyKey: "c"})
	require.ErrorIs(t, err, domain.ErrTransitionNotAllowed)
	_, err = app.CompleteAppointment.Handle(ctx, application.CompleteAppointment{SiteID: idemSite, ID: first.ID, IdempotencyKey: "c"})
	require.ErrorIs(t, err, domain.ErrTransitionNotAllowed, "not ErrIdempotencyKeyReused")

	// After IdempotencyTTL the key is forgotten: the command runs again.
	clock.Advance(application.IdempotencyTTL + time.Minute)
	schedule.StartsAt, schedule.EndsAt = clock.Now().Add(48*time.Hour), clock.Now().Add(49*time.Hour)
	fresh, err := app.ScheduleAppointment.Handle(ctx, schedule)
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, fresh.ID)

	_, err = app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: idemSite, ContactID: idemContact,
		StartsAt: schedule.StartsAt, EndsAt: schedule.EndsAt, IdempotencyKey: "has space"})
	var val *domain.ValidationError
	require.ErrorAs(t, err, &val)
	assert.Equal(t, "idempotencyKey", val.Field)
}

func TestIfVersion(t *testing.T) {
	ctx := context.Background()
	app, store, _ := newIdemApp(t)
	a, err := app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: idemSite, ContactID: idemContact,
		StartsAt: idemT0.Add(48 * time.Hour), EndsAt: idemT0.Add(49 * time.Hour)})
	require.NoError(t, err)
	stale := a.Version - 1
	before := countCalls(t, store)
	_, err = app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: idemSite, ID: a.ID, IfVersion: &stale})
	var mismatch *application.VersionMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, application.VersionMismatchError{Aggregate: "appointment", ID: a.ID.String(), Expected: stale, Actual: a.Version}, *mismatch)
	assert.Equal(t, application.CodePreconditionFailed, application.ErrorCode(err))
	assert.Equal(t, before, countCalls(t, store), "a mismatch changes nothing")
	got, err := app.GetAppointment.Handle(ctx, application.GetAppointment{SiteID: idemSite, ID: a.ID})
	require.NoError(t, err)
	assert.Equal(t, "scheduled", got.State)

	current := a.Version
	canceled, err := app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: idemSite, ID: a.ID, IfVersion: &current})
	require.NoError(t, err)
	assert.Equal(t, "canceled", canceled.State)

	c, err := app.ScheduleClass.Handle(ctx, application.ScheduleClass{SiteID: idemSite, Title: "Yoga",
		StartsAt: idemT0.Add(48 * time.Hour), EndsAt: idemT0.Add(49 * time.Hour), Capacity: 2})
	require.NoError(t, err)
	_, err = app.Enroll.Handle(ctx, application.Enroll{SiteID: idemSite, ClassID: c.ID,
		ParticipantID: idemContact, IfVersion: &stale})
	require.ErrorIs(t, err, application.ErrVersionMismatch)
	e, err := app.Enroll.Handle(ctx, application.Enroll{SiteID: idemSite, ClassID: c.ID, ParticipantID: idemContact, IfVersion: &c.Version})
	require.NoError(t, err)
	_, err = app.Leave.Handle(ctx, application.Leave{SiteID: idemSite, EnrollmentID: e.ID, IfVersion: &stale})
	require.ErrorIs(t, err, application.ErrVersionMismatch)
	_, err = app.RescheduleClass.Handle(ctx, application.RescheduleClass{SiteID: idemSite, ID: c.ID,
		StartsAt: idemT0.Add(50 * time.Hour), EndsAt: idemT0.Add(51 * time.Hour), IfVersion: &c.Version})
	require.ErrorIs(t, err, application.ErrVersionMismatch, "the enrollment moved the class's version")
}
