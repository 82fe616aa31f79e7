package scenarios

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain"
)

// Tenancy (DESIGN.md section 1, invariant 6): every aggregate, command,
// outbox call and token belongs to one site, and nothing crosses sites.
// Each test gives both sites the same IDs where the API lets the caller
// choose them, so that only the site tells them apart.

// tenancyFixture is one site's bookings, with the IDs another site's
// requests will name.
type tenancyFixture struct {
	enrollment application.EnrollmentView
	calls      []application.Call
}

// givenSiteBookings books appointment 1, class 1 and an enrollment on site.
func (w *world) givenSiteBookings(site domain.SiteID) tenancyFixture {
	w.t.Helper()
	_, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{
		SiteID: site, ID: appointmentID(1), ContactID: contactID(1), Title: "Haircut", StartsAt: at(2 * day), EndsAt: at(2*day + time.Hour)})
	require.NoError(w.t, err)
	_, err = w.app.ScheduleClass.Handle(w.ctx, application.ScheduleClass{
		SiteID: site, ID: classID(1), Title: "Yoga", StartsAt: at(3 * day), EndsAt: at(3*day + time.Hour), Capacity: 5})
	require.NoError(w.t, err)
	e, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: site, ClassID: classID(1), ParticipantID: participantID(1)})
	require.NoError(w.t, err)
	var calls []application.Call
	for _, c := range w.newCalls() {
		if c.SiteID == site.String() {
			calls = append(calls, c)
		}
	}
	return tenancyFixture{enrollment: e, calls: calls}
}

func TestTenancyReadsAndCommandsReachOnlyTheirSite(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		mine := w.givenSiteBookings(Site)
		before := w.snapshotSite(Site, mine)

		// Another site reads and acts on the same IDs: to it they do not exist.
		future := at(4 * day)
		for name, do := range map[string]func() error{
			"get appointment": func() error {
				_, err := w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: OtherSite, ID: appointmentID(1)})
				return err
			},
			"get class": func() error {
				_, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: OtherSite, ID: classID(1)})
				return err
			},
			"get enrollment": func() error {
				_, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: OtherSite, ID: mine.enrollment.ID})
				return err
			},
			"reschedule appointment": func() error {
				_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{SiteID: OtherSite, ID: appointmentID(1), StartsAt: future, EndsAt: future.Add(time.Hour)})
				return err
			},
			"cancel appointment": func() error {
				_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: OtherSite, ID: appointmentID(1)})
				return err
			},
			"complete appointment": func() error {
				_, err := w.app.CompleteAppointment.Handle(w.ctx, application.CompleteAppointment{SiteID: OtherSite, ID: appointmentID(1)})
				return err
			},
			"mark no-show": func() error {
				_, err := w.app.MarkNoShow.Handle(w.ctx, application.MarkNoShow{SiteID: OtherSite, ID: appointmentID(1)})
				return err
			},
			"reschedule class": func() error {
				_, err := w.app.RescheduleClass.Handle(w.ctx, application.RescheduleClass{SiteID: OtherSite, ID: classID(1), StartsAt: future, EndsAt: future.Add(time.Hour)})
				return err
			},
			"cancel class": func() error {
				_, err := w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: OtherSite, ID: classID(1)})
				return err
			},
			"complete class": func() error {
				_, err := w.app.CompleteClass.Handle(w.ctx, application.CompleteClass{SiteID: OtherSite, ID: classID(1)})
				return err
			},
			"enroll": func() error {
				_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: OtherSite, ClassID: classID(1), ParticipantID: participantID(2)})
				return err
			},
			"leave": func() error {
				_, err := w.app.Leave.Handle(w.ctx, application.Leave{SiteID: OtherSite, EnrollmentID: mine.enrollment.ID})
				return err
			},
		} {
			err := do()
			assert.ErrorIs(t, err, application.ErrNotFound, name)
		}
		assert.Equal(t, before, w.snapshotSite(Site, mine), "the first site is untouched")
		assert.Empty(t, w.newCalls(), "nothing queued")
	})
}

func TestTenancySameIDsOnTwoSitesStayApart(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		mine := w.givenSiteBookings(Site)
		theirs := w.givenSiteBookings(OtherSite)
		before := w.snapshotSite(Site, mine)

		// When the other site cancels its appointment 1 and class 1
		_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: OtherSite, ID: appointmentID(1)})
		require.NoError(t, err)
		_, err = w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: OtherSite, ID: classID(1)})
		require.NoError(t, err)

		// Then the first site's appointment 1 and class 1 are as they were,
		// and every call queued belongs to the other site and its entities.
		assert.Equal(t, before, w.snapshotSite(Site, mine))
		calls := w.newCalls()
		require.NotEmpty(t, calls)
		for _, c := range calls {
			assert.Equal(t, OtherSite.String(), c.SiteID, describe(c))
			assert.Equal(t, application.OrderingKey(OtherSite.String(), c.ExternalEntityID), c.OrderingKey)
			assert.Contains(t, []string{appointmentID(1).String(), theirs.enrollment.ID.String()}, c.ExternalEntityID)
		}
		assert.NotEqual(t, mine.enrollment.ID, theirs.enrollment.ID, "enrollment IDs are minted, never shared")
	})
}

// siteSnapshot is what a site's fixture looks like through the App.
type siteSnapshot struct {
	appointment application.AppointmentView
	class       application.ClassView
	enrollment  application.EnrollmentView
}

func (w *world) snapshotSite(site domain.SiteID, f tenancyFixture) siteSnapshot {
	w.t.Helper()
	var s siteSnapshot
	var err error
	s.appointment, err = w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: site, ID: appointmentID(1)})
	require.NoError(w.t, err)
	s.class, err = w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: site, ID: classID(1)})
	require.NoError(w.t, err)
	s.enrollment, err = w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: site, ID: f.enrollment.ID})
	require.NoError(w.t, err)
	return s
}

func TestTenancyOutboxOperationsStayOnTheirSite(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		mine := w.givenSiteBookings(Site)
		theirs := w.givenSiteBookings(OtherSite)
		require.NotEmpty(t, mine.calls)

		// List by site holds that site's calls only.
		for _, f := range []struct {
			site  string
			calls []application.Call
		}{{Site.String(), mine.calls}, {OtherSite.String(), theirs.calls}} {
			listed, err := w.outbox.List(w.ctx, application.Filter{SiteID: f.site, Limit: 1000})
			require.NoError(t, err)
			assert.Equal(t, callIDs(f.calls), callIDs(listed), "list of %s", f.site)
			stats, err := w.outbox.Stats(w.ctx, f.site)
			require.NoError(t, err)
			assert.Equal(t, len(f.calls), stats[application.StatePending], "stats of %s", f.site)
		}
		all, err := w.outbox.Stats(w.ctx, "")
		require.NoError(t, err)
		assert.Equal(t, len(mine.calls)+len(theirs.calls), all[application.StatePending], "operators' stats count every site")

		// Get, Retry and Discard of the first site's call, named by the
		// other site: not found, and nothing changes.
		id := mine.calls[0].ID
		_, err = w.outbox.Get(w.ctx, OtherSite.String(), id)
		assert.ErrorIs(t, err, application.ErrNotFound, "get")
		assert.ErrorIs(t, w.outbox.Retry(w.ctx, OtherSite.String(), id, w.clock.Now()), application.ErrNotFound, "retry")
		assert.ErrorIs(t, w.outbox.Discard(w.ctx, OtherSite.String(), id, w.clock.Now()), application.ErrNotFound, "discard")
		got, err := w.outbox.Get(w.ctx, Site.String(), id)
		require.NoError(t, err)
		assert.Equal(t, application.StatePending, got.State)
		assert.Empty(t, got.History)

		// The right site can discard it.
		require.NoError(t, w.outbox.Discard(w.ctx, Site.String(), id, w.clock.Now()))
		stats, err := w.outbox.Stats(w.ctx, OtherSite.String())
		require.NoError(t, err)
		assert.Zero(t, stats[application.StateDiscarded], "the other site's stats do not see it")
	})
}

func callIDs(calls []application.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.ID
	}
	return out
}

func TestTenancyRelayDeliversEachCallToItsOwnSite(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		mine := o.givenSiteBookings(Site)
		o.givenSiteBookings(OtherSite)
		_, err := o.app.CancelAppointment.Handle(o.ctx, application.CancelAppointment{SiteID: OtherSite, ID: appointmentID(1)})
		require.NoError(t, err)
		o.deliver()

		// The other site's cancel of appointment 1 left the first site's
		// events of the same appointment ID live.
		live := map[string]int{}
		for _, ev := range o.sim.LiveEvents(Site.String()) {
			live[ev.TriggerKey+" "+ev.ExternalEntityID]++
		}
		assert.Equal(t, map[string]int{
			"appointment_scheduled " + appointmentID(1).String():           1,
			"appointment_starting " + appointmentID(1).String():            1,
			"participant_enrolled_in_class " + mine.enrollment.ID.String(): 1,
			"class_starting " + mine.enrollment.ID.String():                1,
		}, live)
		for _, r := range o.sim.Requests("") {
			assert.Contains(t, []string{Site.String(), OtherSite.String()}, r.Site)
		}
		for _, ev := range o.sim.Events(OtherSite.String()) {
			assert.NotEqual(t, mine.enrollment.ID, ev.ExternalEntityID, "no event of the first site's enrollment on the other site")
		}
	})
}

func TestTenancyTokensAreBoundToTheirSite(t *testing.T) {
	clock := fake.NewClock(Now)
	sim := wixsim.New(clock)
	require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
	srv := sim.NewServer()
	t.Cleanup(srv.Close)
	ctx := context.Background()
	event := []application.ReportEvent{{ExternalEntityID: appointmentID(1).String(), Payload: []byte(`{}`), IdempotencyKey: contactID(1).String()}}

	// Both sites have an appointment_scheduled event for appointment 1.
	oauth, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: "wixsim-app", AppSecret: "wixsim-secret", Clock: clock})
	require.NoError(t, err)
	for _, site := range []string{Site.String(), OtherSite.String()} {
		_, err := oauth.Report(ctx, site, "appointment_scheduled", event)
		require.NoError(t, err, site)
	}
	require.Len(t, sim.LiveEvents(Site.String()), 1)
	require.Len(t, sim.LiveEvents(OtherSite.String()), 1)
	assert.Equal(t, 1, sim.TokenRequests(Site.String()), "one token per site")
	assert.Equal(t, 1, sim.TokenRequests(OtherSite.String()), "one token per site")

	t.Run("a static-token client refuses any other site before sending", func(t *testing.T) {
		static, err := wix.New(wix.Config{BaseURL: srv.URL, StaticToken: sim.IssueToken(Site.String(), 0), StaticSiteID: Site.String(), Clock: clock})
		require.NoError(t, err)
		sent := len(sim.Requests(""))
		_, err = static.Cancel(ctx, OtherSite.String(), "appointment_scheduled", []string{appointmentID(1).String()})
		var ge *application.GatewayError
		require.True(t, errors.As(err, &ge), "a typed error: %v", err)
		assert.True(t, ge.Permanent)
		assert.Equal(t, sent, len(sim.Requests("")), "no request left the client")
		assert.Len(t, sim.LiveEvents(OtherSite.String()), 1)
	})

	t.Run("a site's token acts on that site only", func(t *testing.T) {
		// The first site's token cancels appointment 1: the other site's
		// event of the same ID stays live.
		post(t, srv.URL+"/automations/v1/events/cancel", sim.IssueToken(Site.String(), 0), "",
			`{"triggerKey":"appointment_scheduled","externalEntityId":"`+appointmentID(1).String()+`"}`, http.StatusOK)
		assert.Empty(t, sim.LiveEvents(Site.String()))
		assert.Len(t, sim.LiveEvents(OtherSite.String()), 1)
	})

	t.Run("a token sent for another site is refused", func(t *testing.T) {
		post(t, srv.URL+"/automations/v1/events/cancel", sim.IssueToken(Site.String(), 0), OtherSite.String(),
			`{"triggerKey":"appointment_scheduled","externalEntityId":"`+appointmentID(1).String()+`"}`, http.StatusForbidden)
		assert.Len(t, sim.LiveEvents(OtherSite.String()), 1)
	})

	t.Run("revoking one site's tokens leaves the other's", func(t *testing.T) {
		other := sim.IssueToken(OtherSite.String(), 0)
		sim.RevokeTokens(Site.String())
		post(t, srv.URL+"/automations/v1/events/report", other, "",
			`{"triggerKey":"appointment_scheduled","externalEntityId":"`+appointmentID(2).String()+`","payload":{}}`, http.StatusOK)
		assert.Len(t, sim.LiveEvents(OtherSite.String()), 2)
	})
}

// post sends body with a raw token (and a wix-site-id header when site is
// set) and checks the status.
func post(t *testing.T, url, token, site, body string, status int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	if site != "" {
		req.Header.Set("wix-site-id", site)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, status, res.StatusCode)
}
