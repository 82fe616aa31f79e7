package scenarios

import (
	"errors"

	"pgregory.net/rapid"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

// The operator steps of the property test: Wix refuses calls for good, and
// an operator retries any dead, expired or superseded call, discards calls,
// changes the catalog and reconciles. No operator action may bring back an
// event a booking no longer calls for; after the operator reconciles, Wix
// is true to the bookings.

// propReconcileMaxAge spans every case (propMaxSpan), so that reconcile
// reports every real-time event the oracle expects.
const propReconcileMaxAge = 30 * day

// propOperatorNames is propCommandNames with the operator steps.
var propOperatorNames = func() []string {
	byName, names := weighted(
		3, "Wix refuses for good", (*propWorld).refuseForGood,
		3, "operator retries a call", (*propWorld).operatorRetry,
		1, "operator discards a call", (*propWorld).operatorDiscard,
		2, "operator reconciles", (*propWorld).operatorReconcile,
		1, "catalog changes", (*propWorld).catalogChange,
	)
	for k, v := range byName {
		propCommands[k] = v
	}
	return append(append([]string(nil), propCommandNames...), names...)
}()

// refuseForGood makes Wix refuse, for good, the next requests naming an entity.
func (w *propWorld) refuseForGood() {
	entity := w.drawEntity()
	if entity == "" {
		return
	}
	status := rapid.SampledFrom([]int{400, 403, 428}).Draw(w.t, "refusal status")
	endpoint := rapid.SampledFrom([]wixsim.Endpoint{"", wixsim.EndpointReport, wixsim.EndpointCancel}).Draw(w.t, "refused endpoint")
	times := rapid.IntRange(1, 2).Draw(w.t, "refusals")
	w.sim.Inject(wixsim.Fault{Endpoint: endpoint, EntityID: entity, Status: status, Times: times})
	w.stats.add(func(s *propertyStats) { s.faults++ })
	w.logf("fault: next %d x HTTP %d for %s naming %s", times, status, endpointName(endpoint), entity)
}

func endpointName(e wixsim.Endpoint) string {
	if e == "" {
		return "any call"
	}
	return string(e)
}

// callsIn lists every call in one of states.
func (w *propWorld) callsIn(states ...application.CallState) []application.Call {
	var out []application.Call
	for _, st := range states {
		page, err := w.db.List(w.ctx, application.Filter{State: st, Limit: 1000})
		if err != nil {
			w.t.Fatalf("list %s: %v", st, err)
		}
		out = append(out, page...)
	}
	return out
}

// operatorRetry retries any dead, expired or superseded call: a superseded
// one, or one the booking no longer calls for, must be refused.
func (w *propWorld) operatorRetry() {
	calls := w.callsIn(application.StateDead, application.StateExpired, application.StateSuperseded)
	if len(calls) == 0 {
		return
	}
	c := calls[rapid.IntRange(0, len(calls)-1).Draw(w.t, "call to retry")]
	_, err := w.app.RetryCall.Handle(w.ctx, application.RetryCall{SiteID: domain.MustSiteID(c.SiteID), CallID: domain.MustID(c.ID)})
	w.newCalls() // a retried call has a new Seq: it is not the next command's
	w.stats.add(func(s *propertyStats) { s.retries++ })
	switch {
	case c.State == application.StateSuperseded:
		if !errors.Is(err, outbox.ErrSuperseded) {
			w.t.Fatalf("retry of superseded call %s (%s %s): %v, want a refusal", c.ID, c.Kind, c.TriggerKey, err)
		}
	case err != nil && !errors.Is(err, application.ErrNotCalledFor):
		w.t.Fatalf("retry of %s call %s: %v", c.State, c.ID, err)
	}
	if err != nil {
		w.stats.add(func(s *propertyStats) { s.refusedRetries++ })
	}
	w.logf("operator retries %s %s %s (%s) -> %v", c.State, c.Kind, c.TriggerKey, c.ExternalEntityID, errText(err))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return "refused: " + err.Error()
}

// operatorDiscard discards a pending, dead or expired call.
func (w *propWorld) operatorDiscard() {
	calls := w.callsIn(application.StatePending, application.StateDead, application.StateExpired)
	if len(calls) == 0 {
		return
	}
	c := calls[rapid.IntRange(0, len(calls)-1).Draw(w.t, "call to discard")]
	if err := w.db.Discard(w.ctx, c.SiteID, c.ID, w.clock.Now()); err != nil {
		w.t.Fatalf("discard %s call %s: %v", c.State, c.ID, err)
	}
	w.stats.add(func(s *propertyStats) { s.discards++ })
	w.logf("operator discards %s %s %s (%s)", c.State, c.Kind, c.TriggerKey, c.ExternalEntityID)
}

// operatorReconcile reconciles every site and returns how many repairs it
// queued.
func (w *propWorld) operatorReconcile() {
	n := w.reconcile()
	w.logf("operator reconciles: %d repairs", n)
}

func (w *propWorld) reconcile() int {
	sum, err := w.app.Reconcile.Handle(w.ctx, application.Reconcile{MaxAge: propReconcileMaxAge}, nil)
	if err != nil {
		w.t.Fatalf("reconcile: %v", err)
	}
	w.newCalls() // the repairs are not the next command's calls
	w.stats.add(func(s *propertyStats) { s.reconciles++; s.repairs += sum.Repairs })
	return sum.Repairs
}

// catalogChange switches an optional trigger on or off; the booking
// product restarts with the new catalog.
func (w *propWorld) catalogChange() {
	var optional []application.Role
	for _, r := range application.Roles() {
		if _, on := application.DefaultCatalog().Trigger(r); !on {
			optional = append(optional, r)
		}
	}
	role := rapid.SampledFrom(optional).Draw(w.t, "role to switch")
	_, on := w.catalog.Trigger(role)
	on = !on
	w.settings[role] = application.Setting{Enabled: &on}
	c, err := application.NewCatalog(w.settings)
	if err != nil {
		w.t.Fatalf("catalog: %v", err)
	}
	app, err := application.New(application.Config{Store: w.db, Catalog: c, Clock: w.clock, IDs: w.ids})
	if err != nil {
		w.t.Fatalf("app: %v", err)
	}
	w.catalog, w.app = c, app
	w.stats.add(func(s *propertyStats) { s.catalogs++ })
	w.logf("catalog: %s %s", role, map[bool]string{true: "on", false: "off"}[on])
}

// repair is what the operator does before Wix is held true: reconcile and
// deliver until reconcile finds nothing left to repair.
func (w *propWorld) repair() {
	for round := 0; ; round++ {
		if round > 10 {
			w.t.Fatalf("reconcile still finds repairs after %d rounds", round)
		}
		n := w.reconcile()
		if n == 0 {
			return
		}
		w.logf("repair: %d calls queued by reconcile", n)
		w.deliver(deliverPlan{workers: 1})
	}
}
