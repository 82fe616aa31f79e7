// Package wixsimtest builds gateway contract harnesses (application/
// gatewaytest) over a wixsim simulator, for the simulator's own tests and
// for adapters that talk to it, such as the REST client.
package wixsimtest

import (
	"testing"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/gatewaytest"
	"github.com/stretchr/testify/require"
)

// RegisterContractTriggers registers the triggers the contract suite
// reports to.
func RegisterContractTriggers(t testing.TB, sim *wixsim.Sim) {
	t.Helper()
	require.NoError(t, sim.RegisterTrigger(gatewaytest.RealTimeKey, application.RealTime, ""))
	require.NoError(t, sim.RegisterTrigger(gatewaytest.ScheduledKey, application.Scheduled, gatewaytest.DateTimeField))
}

// Harness returns a contract harness for gw, observing and faulting sim.
// The caller registers the contract triggers (RegisterContractTriggers).
func Harness(sim *wixsim.Sim, gw application.Gateway) gatewaytest.Harness {
	return gatewaytest.Harness{
		Gateway: gw,
		Now:     sim.Now,
		LiveEvents: func(siteID string) []gatewaytest.Event {
			var out []gatewaytest.Event
			for _, e := range sim.LiveEvents(siteID) {
				out = append(out, gatewaytest.Event{TriggerKey: e.TriggerKey, ExternalEntityID: e.ExternalEntityID, Payload: e.Payload})
			}
			return out
		},
		Inject: func(f gatewaytest.Fault) {
			sim.Inject(wixsim.Fault{
				Status: f.Status, RetryAfter: f.RetryAfter, Drop: f.Drop, AfterApply: f.AfterApply,
				ItemCode: f.ItemCode, EntityID: f.EntityID,
			})
		},
	}
}
