package scenarios

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

// The Refresh Payload scenarios: just before Wix runs a delayed action, it
// asks the app (its Trigger Provider service plugin) whether the event is
// still true. lifecycle serve answers from the booking's current state, so
// a reminder cannot run for a canceled booking even when its cancel call
// was lost, and it runs with what the booking says now.

const refreshAppID = "lifecycle-scenario-app"

// eachStoreWithRefresh is eachStoreWithWix where the simulated Wix calls
// the app's Refresh Payload route before every delayed action.
func eachStoreWithRefresh(t *testing.T, scenario func(t *testing.T, o *outcomes)) {
	eachStore(t, func(t *testing.T, w *world) {
		keys := wixsimtest.NewKeyPair(t)
		pub, err := httpapi.ParsePublicKey(keys.PublicPEM)
		require.NoError(t, err)
		api, err := httpapi.New(httpapi.Config{App: w.app, Outbox: w.outbox, Clock: w.clock,
			TriggerProvider: &httpapi.TriggerProvider{PublicKey: pub, AppID: refreshAppID}})
		require.NoError(t, err)
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)
		sim := wixsim.New(w.clock, wixsim.WithCredentials(refreshAppID, "secret"),
			wixsim.WithTriggerProvider(srv.URL+application.TriggerProviderPath, keys.Private),
			wixsim.WithRefreshTokenClock(w.clock))
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

func (o *outcomes) activation(automation string, id domain.ID) wixsim.Activation {
	entity := id.String()
	o.t.Helper()
	for _, a := range o.sim.Activations(Site.String()) {
		if a.Automation == automation && a.ExternalEntityID == entity {
			return a
		}
	}
	o.t.Fatalf("no activation %q for %s", automation, entity)
	return wixsim.Activation{}
}

func TestRefreshStopsAReminderWhoseCancelWasDeadLettered(t *testing.T) {
	eachStoreWithRefresh(t, func(t *testing.T, o *outcomes) {
		// Given Jane's appointment in five days, its reminder at Wix
		o.scheduleAppointment(1, 1, 5*day)
		o.deliver()
		// When she cancels while Wix refuses the cancels
		o.refuse(wixsim.EndpointCancel, appointmentID(1), 403, 2)
		o.clock.Advance(time.Hour)
		_, err := o.app.CancelAppointment.Handle(o.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		o.drain()
		assert.Equal(t, application.StateDead, o.callOf(application.KindCancel, "appointment_starting", appointmentID(1)).State)
		assert.Contains(t, o.live(appointmentID(1)), "appointment_starting", "the reminder is still live at Wix")
		// And the day before comes
		o.sim.Advance(5 * day)
		// Then Wix asked, lifecycle answered from the canceled booking, and
		// neither the reminder nor the follow-up ran
		for _, name := range []string{"reminder 1 day before", "follow-up 3 days after booking"} {
			a := o.activation(name, appointmentID(1))
			assert.Equal(t, wixsim.ActivationCanceled, a.State, name)
			assert.Equal(t, wixsim.CanceledByRefreshPayload, a.CanceledBy, name)
		}
		assert.Equal(t, []ran{{"confirmation", appointmentID(1).String(), at(0)}}, o.ranFor(appointmentID(1)))
	})
}

func TestRefreshRunsTheReminderWithTheNewTitle(t *testing.T) {
	eachStoreWithRefresh(t, func(t *testing.T, o *outcomes) {
		// Given Jane's haircut in five days, its reminder at Wix
		o.scheduleAppointment(1, 1, 5*day)
		o.deliver()
		// When it becomes a colouring while Wix refuses the reminder's
		// replacement (the old reminder, with the old title, stays live)
		o.refuse(wixsim.EndpointCancel, appointmentID(1), 403, 1)
		o.refuse(wixsim.EndpointReport, appointmentID(1), 403, 1)
		_, err := o.app.RenameAppointment.Handle(o.ctx, application.RenameAppointment{SiteID: Site, ID: appointmentID(1), Title: "Colouring"})
		require.NoError(t, err)
		o.drain()
		// And the day before comes
		o.sim.Advance(5 * day)
		// Then the reminder ran once, with the title the booking has now
		a := o.activation("reminder 1 day before", appointmentID(1))
		require.Equal(t, wixsim.ActivationRan, a.State)
		assert.Contains(t, string(a.Payload), `"title":"Haircut"`, "what Wix held")
		assert.Contains(t, string(a.RanWith), `"title":"Colouring"`, "what it ran with")
	})
}
