package wixsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
)

// controlFunc handles a control request: it answers a status and a body
// to encode as JSON, or an error to answer as a problem.
type controlFunc func(r *http.Request) (int, any, error)

// methods routes one control path by HTTP method; another method is a
// 405 problem naming the allowed ones.
type methods map[string]controlFunc

// ServeHTTP runs the method's handler and writes its JSON or its problem.
func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok {
		allowed := make([]string, 0, len(m))
		for name := range m {
			allowed = append(allowed, name)
		}
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, r, &controlError{code: ProblemMethodNotAllowed, detail: r.Method + " is not allowed here; use " + strings.Join(allowed, " or ")})
		return
	}
	status, body, err := h(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (e *Emulator) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ControlPrefix+"{$}", e.servePage)
	mux.Handle(ControlPrefix+"sites", methods{"GET": e.listSites})
	mux.Handle(ControlPrefix+"sites/{site}/events", methods{"GET": e.siteEvents(false)})
	mux.Handle(ControlPrefix+"sites/{site}/live-events", methods{"GET": e.siteEvents(true)})
	mux.Handle(ControlPrefix+"sites/{site}/activations", methods{"GET": e.siteActivations})
	mux.Handle(ControlPrefix+"sites/{site}/automations", methods{"GET": e.siteAutomations, "POST": e.addAutomation})
	mux.Handle(ControlPrefix+"sites/{site}/requests", methods{"GET": e.siteRequests})
	mux.Handle(ControlPrefix+"sites/{site}/revoke-tokens", methods{"POST": e.revokeTokens})
	mux.Handle(ControlPrefix+"triggers", methods{"GET": e.listTriggers, "POST": e.registerTrigger})
	mux.Handle(ControlPrefix+"faults", methods{"GET": e.listFaults, "POST": e.injectFault, "DELETE": e.clearFaults})
	mux.Handle(ControlPrefix+"latency", methods{"GET": e.getLatency, "PUT": e.setLatency})
	mux.Handle(ControlPrefix+"clock", methods{"GET": e.getClock, "POST": e.moveClock})
	mux.Handle(ControlPrefix+"reset", methods{"POST": e.reset})
	mux.HandleFunc(ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, &controlError{code: ProblemNotFound, detail: "no control route " + r.URL.Path + "; see docs/wixsim.md"})
	})
	return mux
}

// siteIDPattern is what the control API accepts as a site (instance) ID:
// Wix's are GUIDs; the simulator's token endpoint takes any, so this only
// keeps paths sane.
var siteIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// siteOf returns the request's {site}, validated, having refused query
// parameters other than allowed.
func siteOf(r *http.Request, allowed ...string) (string, error) {
	if err := onlyQuery(r, allowed...); err != nil {
		return "", err
	}
	site := r.PathValue("site")
	if !siteIDPattern.MatchString(site) {
		return "", invalidField("site", "a site ID is 1 to 100 letters, digits, '.', '_' or '-'")
	}
	return site, nil
}

// onlyQuery refuses query parameters other than allowed.
func onlyQuery(r *http.Request, allowed ...string) error {
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			return invalidField(name, "unknown query parameter")
		}
	}
	return nil
}

func (e *Emulator) listSites(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	out := []siteView{}
	for _, id := range e.sim.Sites() {
		acts := e.sim.Activations(id)
		pending := 0
		for _, a := range acts {
			if a.State == ActivationPending {
				pending++
			}
		}
		out = append(out, siteView{
			ID: id, Automations: len(e.sim.Automations(id)), Events: len(e.sim.Events(id)),
			LiveEvents: len(e.sim.LiveEvents(id)), Activations: len(acts), Pending: pending,
		})
	}
	return http.StatusOK, map[string]any{"sites": out}, nil
}

func (e *Emulator) siteEvents(liveOnly bool) controlFunc {
	return func(r *http.Request) (int, any, error) {
		site, err := siteOf(r)
		if err != nil {
			return 0, nil, err
		}
		evs := e.sim.Events(site)
		if liveOnly {
			evs = e.sim.LiveEvents(site)
		}
		return http.StatusOK, map[string]any{"events": list(evs, viewEvent)}, nil
	}
}

var activationStates = []ActivationState{ActivationPending, ActivationRan, ActivationCanceled, ActivationSkipped, ActivationFailed}

func (e *Emulator) siteActivations(r *http.Request) (int, any, error) {
	site, err := siteOf(r, "state")
	if err != nil {
		return 0, nil, err
	}
	var states []ActivationState
	for _, v := range r.URL.Query()["state"] {
		for _, name := range strings.Split(v, ",") {
			st := ActivationState(strings.TrimSpace(name))
			if !slices.Contains(activationStates, st) {
				return 0, nil, invalidField("state", "%q is not one of pending, ran, canceled, skipped, failed", name)
			}
			states = append(states, st)
		}
	}
	return http.StatusOK, map[string]any{"activations": list(e.sim.Activations(site, states...), viewActivation)}, nil
}

func (e *Emulator) siteAutomations(r *http.Request) (int, any, error) {
	site, err := siteOf(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"automations": list(e.sim.Automations(site), viewAutomation)}, nil
}

func (e *Emulator) addAutomation(r *http.Request) (int, any, error) {
	site, err := siteOf(r)
	if err != nil {
		return 0, nil, err
	}
	var body automationView
	if err := decodeControl(r, &body); err != nil {
		return 0, nil, err
	}
	a := Automation{Name: strings.TrimSpace(body.Name), TriggerKey: body.TriggerKey}
	switch {
	case a.Name == "":
		return 0, nil, invalidField("name", "an automation needs a name")
	case len(a.Name) > 200:
		return 0, nil, invalidField("name", "at most 200 characters")
	case a.TriggerKey == "":
		return 0, nil, invalidField("triggerKey", "an automation needs a trigger key")
	}
	if a.Offset, err = optionalDuration(body.Offset); err != nil {
		return 0, nil, invalidField("offset", "%v", err)
	}
	switch err := e.sim.AddAutomation(site, a); {
	case errors.Is(err, ErrUnknownTrigger):
		return 0, nil, invalidField("triggerKey", "no trigger %q is registered (GET /_wixsim/triggers)", a.TriggerKey)
	case errors.Is(err, ErrInvalidAutomation):
		return 0, nil, invalidField("offset", "%s", strings.TrimPrefix(err.Error(), ErrInvalidAutomation.Error()+": "))
	case err != nil:
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"automation": viewAutomation(a)}, nil
}

func (e *Emulator) siteRequests(r *http.Request) (int, any, error) {
	site, err := siteOf(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"requests": list(e.sim.Requests(site), viewRequest)}, nil
}

func (e *Emulator) revokeTokens(r *http.Request) (int, any, error) {
	site, err := siteOf(r)
	if err != nil {
		return 0, nil, err
	}
	e.sim.RevokeTokens(site)
	return http.StatusOK, map[string]any{}, nil
}

func (e *Emulator) listTriggers(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"triggers": list(e.sim.Triggers(), viewTrigger)}, nil
}

func viewTrigger(t Trigger) triggerView {
	return triggerView{Key: t.Key, Timing: t.Timing, DateTimeField: t.DateTimeField, RefreshPayload: t.RefreshPayload}
}

func (e *Emulator) registerTrigger(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	var body struct {
		Key           string             `json:"key"`
		Timing        application.Timing `json:"timing"`
		DateTimeField string             `json:"dateTimeField"`
	}
	if err := decodeControl(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Timing != application.RealTime && body.Timing != application.Scheduled {
		return 0, nil, invalidField("timing", "%q is not %q or %q", body.Timing, application.RealTime, application.Scheduled)
	}
	if err := e.sim.RegisterTrigger(body.Key, body.Timing, body.DateTimeField); err != nil {
		field := "key"
		if application.ValidKey(body.Key) {
			field = "dateTimeField"
		}
		return 0, nil, invalidField(field, "%s", strings.TrimPrefix(err.Error(), ErrInvalidTrigger.Error()+": "))
	}
	for _, t := range e.sim.Triggers() {
		if t.Key == body.Key {
			return http.StatusCreated, map[string]any{"trigger": viewTrigger(t)}, nil
		}
	}
	return 0, nil, errors.New("wixsim: a registered trigger is missing")
}

func (e *Emulator) faultsBody() map[string]any {
	return map[string]any{"faults": list(e.sim.Faults(), viewFault), "latency": e.sim.Latency().String()}
}

func (e *Emulator) listFaults(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e.faultsBody(), nil
}

func (e *Emulator) injectFault(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	var body faultView
	if err := decodeControl(r, &body); err != nil {
		return 0, nil, err
	}
	f, ferr := body.fault()
	if ferr != nil {
		return 0, nil, invalidField(ferr.Field, "%s", ferr.Reason)
	}
	if err := f.Validate(); err != nil {
		return 0, nil, &controlError{code: ProblemInvalidArgument, detail: strings.TrimPrefix(err.Error(), ErrInvalidFault.Error()+": ")}
	}
	e.sim.Inject(f)
	if f.Times == 0 {
		f.Times = 1
	}
	return http.StatusCreated, map[string]any{"fault": viewFault(f)}, nil
}

func (e *Emulator) clearFaults(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	e.sim.ClearFaults()
	return http.StatusOK, e.faultsBody(), nil
}

func (e *Emulator) getLatency(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"latency": e.sim.Latency().String()}, nil
}

func (e *Emulator) setLatency(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	var body struct {
		Latency string `json:"latency"`
	}
	if err := decodeControl(r, &body); err != nil {
		return 0, nil, err
	}
	d, err := parseDuration(body.Latency)
	switch {
	case err != nil:
		return 0, nil, invalidField("latency", "%v", err)
	case d < 0 || d > time.Minute:
		return 0, nil, invalidField("latency", "must be between 0s and 1m")
	}
	e.sim.SetLatency(d)
	return http.StatusOK, map[string]any{"latency": d.String()}, nil
}

func (e *Emulator) clockBody() clockView {
	v := clockView{Now: e.sim.Now(), Settable: e.sim.Settable()}
	if c, ok := e.sim.clock.(interface{ Frozen() bool }); ok {
		v.Frozen = c.Frozen()
	} else if _, ok := e.sim.clock.(SettableClock); ok {
		v.Frozen = true // a fake.Clock moves only when told
	}
	return v
}

func (e *Emulator) getClock(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e.clockBody(), nil
}

// moveClock advances the clock by a duration or sets it to a time, runs
// what became due and answers the clock and the activations that ran.
func (e *Emulator) moveClock(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	var body struct {
		Advance string `json:"advance"`
		Set     string `json:"set"`
	}
	if err := decodeControl(r, &body); err != nil {
		return 0, nil, err
	}
	var ran []Activation
	var err error
	switch {
	case (body.Advance == "") == (body.Set == ""):
		return 0, nil, &controlError{code: ProblemInvalidArgument, detail: `give exactly one of "advance" (a duration) and "set" (an RFC 3339 time)`,
			fields: []fieldError{{Field: "advance", Reason: "exactly one of advance and set"}, {Field: "set", Reason: "exactly one of advance and set"}}}
	case body.Advance != "":
		d, perr := parseDuration(body.Advance)
		if perr != nil {
			return 0, nil, invalidField("advance", "%v", perr)
		}
		if d < 0 {
			return 0, nil, invalidField("advance", "the clock only moves forward (reset to start over)")
		}
		ran, err = e.sim.AdvanceContext(r.Context(), d)
	default:
		t, perr := time.Parse(time.RFC3339Nano, body.Set)
		if perr != nil {
			return 0, nil, invalidField("set", "%q is not an RFC 3339 time such as 2026-12-01T09:00:00Z", body.Set)
		}
		ran, err = e.sim.SetTime(r.Context(), t)
		if errors.Is(err, ErrClockBackwards) {
			return 0, nil, invalidField("set", "%s is before the clock's time %s: the clock only moves forward (reset to start over)",
				t.UTC().Format(time.RFC3339Nano), e.sim.Now().Format(time.RFC3339Nano))
		}
	}
	switch {
	case errors.Is(err, ErrClockNotSettable):
		return 0, nil, &controlError{code: ProblemConflict, detail: "the simulator runs on a clock that cannot be moved"}
	case err != nil:
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"clock": e.clockBody(), "ran": list(ran, viewActivation)}, nil
}

func (e *Emulator) reset(r *http.Request) (int, any, error) {
	if err := onlyQuery(r); err != nil {
		return 0, nil, err
	}
	if err := e.Reset(); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{}, nil
}
