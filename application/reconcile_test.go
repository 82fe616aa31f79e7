package application_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

var recSite = domain.MustSiteID("5e000000-0000-4000-8000-0000000000aa")

var recT0 = time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)

// recEnv is an App on the memory store whose bookings were saved without
// calls, as a product that adopts lifecycle has them, with a relay to a
// fake Wix.
type recEnv struct {
	t     *testing.T
	ctx   context.Context
	store *memory.Store
	clock *fake.Clock
	gw    *fake.Gateway
	app   *application.App
}

func newRecEnv(t *testing.T, c *application.Catalog) *recEnv {
	e := &recEnv{t: t, ctx: context.Background(), store: memory.New(), clock: fake.NewClock(recT0), gw: nil}
	e.gw = fake.NewGateway(e.clock)
	app, err := application.New(application.Config{Store: e.store, Catalog: c, Clock: e.clock, IDs: fake.NewIDs("0e000000")})
	require.NoError(t, err)
	e.app = app
	return e
}

// adopt saves n appointments booked at bookedAt, starting in two days, with
// no call in the outbox.
func (e *recEnv) adopt(n int, bookedAt time.Time) {
	require.NoError(e.t, e.store.Update(e.ctx, func(ctx context.Context, tx application.Tx) error {
		for i := range n {
			a, err := appointment.Schedule(appointment.New{ID: uuidN("a0000000", i), SiteID: recSite,
				ContactID: uuidN("c0000000", i), Title: "Haircut", Start: recT0.Add(48 * time.Hour),
				End: recT0.Add(49 * time.Hour)}, bookedAt)
			if err != nil {
				return err
			}
			if err := tx.SaveAppointment(ctx, a); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (e *recEnv) reconcile(cmd application.Reconcile) ([]application.Repair, application.ReconcileSummary) {
	e.t.Helper()
	var got []application.Repair
	cmd.SiteID = recSite
	sum, err := e.app.Reconcile.Handle(e.ctx, cmd, func(r application.Repair) error { got = append(got, r); return nil })
	require.NoError(e.t, err)
	return got, sum
}

func (e *recEnv) pending() int {
	stats, err := e.store.Stats(e.ctx, recSite.String())
	require.NoError(e.t, err)
	return stats[application.StatePending]
}

func (e *recEnv) deliver() {
	r, err := relay.New(relay.Config{Outbox: e.store, Gateway: e.gw, Clock: e.clock,
		RequestsPerMinute: relay.NoRateLimit})
	require.NoError(e.t, err)
	require.NoError(e.t, r.Drain(e.ctx))
}

func shapes(rs []application.Repair) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Kind) + " " + r.TriggerKey
	}
	return out
}

func TestReconcileDryRunChangesNothing(t *testing.T) {
	e := newRecEnv(t, nil)
	e.adopt(3, recT0.Add(-time.Hour))
	plan, sum := e.reconcile(application.Reconcile{DryRun: true})
	assert.Equal(t, application.ReconcileSummary{Sites: 1, Entities: 3, Repairs: 6, DryRun: true}, sum)
	assert.Equal(t, []string{"report appointment_scheduled", "report appointment_starting"}, shapes(plan[:2]))
	assert.Equal(t, application.ReasonNeverAsked, plan[0].Reason)
	assert.Equal(t, application.ReasonMissing, plan[1].Reason)
	assert.True(t, plan[1].ScheduledAt.Equal(recT0.Add(48*time.Hour)))
	assert.Zero(t, e.pending(), "a dry run queues nothing")
}

func TestReconcileIsIdempotent(t *testing.T) {
	e := newRecEnv(t, nil)
	e.adopt(3, recT0.Add(-time.Hour))
	first, _ := e.reconcile(application.Reconcile{})
	assert.Len(t, first, 6)
	assert.Equal(t, 6, e.pending())
	again, _ := e.reconcile(application.Reconcile{})
	assert.Empty(t, again, "queued calls already make Wix right")
	e.deliver()
	again, _ = e.reconcile(application.Reconcile{})
	assert.Empty(t, again, "delivered calls do too")
	assert.Len(t, e.gw.Items(), 6)
}

func TestReconcileSendsOnlyRecentRealTimeEvents(t *testing.T) {
	e := newRecEnv(t, nil)
	e.adopt(1, recT0.Add(-30*24*time.Hour)) // booked a month ago
	plan, _ := e.reconcile(application.Reconcile{DryRun: true})
	assert.Equal(t, []string{"report appointment_starting"}, shapes(plan),
		"the reminder is still to come; a month-old booking confirmation is not sent")
	plan, _ = e.reconcile(application.Reconcile{DryRun: true, MaxAge: 31 * 24 * time.Hour})
	assert.Equal(t, []string{"report appointment_scheduled", "report appointment_starting"}, shapes(plan))
	_, err := e.app.Reconcile.Handle(e.ctx, application.Reconcile{SiteID: recSite, MaxAge: -time.Second}, nil)
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

func TestReconcileFollowsTheCatalog(t *testing.T) {
	on, off := true, false
	e := newRecEnv(t, nil)
	v, err := e.app.ScheduleAppointment.Handle(e.ctx, application.ScheduleAppointment{SiteID: recSite,
		ContactID: uuidN("c0000000", 1), StartsAt: recT0.Add(48 * time.Hour), EndsAt: recT0.Add(49 * time.Hour)})
	require.NoError(t, err)
	e.deliver()
	// The reminder trigger is switched off: its live event is canceled.
	c, err := application.NewCatalog(map[application.Role]application.Setting{
		application.RoleAppointmentStarting: {Enabled: &off}})
	require.NoError(t, err)
	app, err := application.New(application.Config{Store: e.store, Catalog: c, Clock: e.clock, IDs: fake.NewIDs("0f000000")})
	require.NoError(t, err)
	var got []application.Repair
	_, err = app.Reconcile.Handle(e.ctx, application.Reconcile{SiteID: recSite}, func(r application.Repair) error {
		got = append(got, r)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"cancel appointment_starting"}, shapes(got))
	assert.Equal(t, application.ReasonStale, got[0].Reason)
	assert.Equal(t, v.ID.String(), got[0].EntityID)
	// An optional trigger switched on for existing bookings: reported.
	c, err = application.NewCatalog(map[application.Role]application.Setting{
		application.RoleAppointmentRescheduled: {Enabled: &on}})
	require.NoError(t, err)
	_, err = e.app.RescheduleAppointment.Handle(e.ctx, application.RescheduleAppointment{SiteID: recSite, ID: v.ID,
		StartsAt: recT0.Add(50 * time.Hour), EndsAt: recT0.Add(51 * time.Hour)})
	require.NoError(t, err)
	app, err = application.New(application.Config{Store: e.store, Catalog: c, Clock: e.clock, IDs: fake.NewIDs("0d000000")})
	require.NoError(t, err)
	got = nil
	_, err = app.Reconcile.Handle(e.ctx, application.Reconcile{SiteID: recSite, DryRun: true}, func(r application.Repair) error {
		got = append(got, r)
		return nil
	})
	require.NoError(t, err)
	assert.Contains(t, shapes(got), "report appointment_rescheduled")
}

func uuidN(prefix string, n int) domain.ID {
	return domain.MustID(fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n))
}

func TestRetryCallMustAgreeWithTheBooking(t *testing.T) {
	e := newRecEnv(t, nil)
	v, err := e.app.ScheduleAppointment.Handle(e.ctx, application.ScheduleAppointment{SiteID: recSite,
		ContactID: uuidN("c0000000", 1), StartsAt: recT0.Add(48 * time.Hour), EndsAt: recT0.Add(49 * time.Hour)})
	require.NoError(t, err)
	e.gw.FailEntity(v.ID.String(), 2, &application.GatewayError{Status: 428, Message: "trigger not configured", Permanent: true})
	e.deliver()
	dead, err := e.store.List(e.ctx, application.Filter{SiteID: recSite.String(), State: application.StateDead})
	require.NoError(t, err)
	require.Len(t, dead, 2)

	// The reminder trigger is switched off meanwhile: its dead report may not come back.
	off := false
	c, err := application.NewCatalog(map[application.Role]application.Setting{application.RoleAppointmentStarting: {Enabled: &off}})
	require.NoError(t, err)
	app, err := application.New(application.Config{Store: e.store, Catalog: c, Clock: e.clock})
	require.NoError(t, err)
	for _, d := range dead {
		_, err := app.RetryCall.Handle(e.ctx, application.RetryCall{SiteID: recSite, CallID: domain.MustID(d.ID)})
		if d.TriggerKey == "appointment_starting" {
			var nc *application.NotCalledForError
			require.ErrorAs(t, err, &nc)
			assert.ErrorIs(t, err, application.ErrCallState)
			assert.Contains(t, err.Error(), "reconcile")
			continue
		}
		require.NoError(t, err, "the confirmation is still called for")
	}
	got, err := e.app.RetryCall.Handle(e.ctx, application.RetryCall{SiteID: recSite, CallID: uuidN("d0000000", 9)})
	assert.ErrorIs(t, err, application.ErrNotFound)
	assert.Empty(t, got.ID)
}
