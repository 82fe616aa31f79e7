package wixsim

import (
	"slices"
	"sort"

	"github.com/bookable/lifecycle/application"
)

// Sites returns the IDs of the sites the simulator holds state for (an
// automation, an event, a token or a request), sorted.
func (s *Sim) Sites() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for id := range s.sites {
		seen[id] = true
	}
	for _, g := range s.tokens {
		seen[g.site] = true
	}
	for _, r := range s.requests {
		if r.Site != "" {
			seen[r.Site] = true
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Automations returns a site's automations in the order they were added.
func (s *Sim) Automations(siteID string) []Automation {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[siteID]
	if st == nil {
		return nil
	}
	return slices.Clone(st.automations)
}

// Trigger is a trigger of the app as the simulator knows it.
type Trigger struct {
	Key           string
	Timing        application.Timing
	DateTimeField string // the payload's date-time property of a scheduled trigger
	// RefreshPayload is true when the trigger provider serves the trigger,
	// so its delayed activations call Refresh Payload.
	RefreshPayload bool
}

// Triggers returns the registered triggers, sorted by key.
func (s *Sim) Triggers() []Trigger {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Trigger, 0, len(s.triggers))
	for key, def := range s.triggers {
		out = append(out, Trigger{
			Key: key, Timing: def.timing, DateTimeField: def.dateTimeField,
			RefreshPayload: s.provider != nil && s.provider.serves(key),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Reset forgets every site's state (events, idempotency keys, automations,
// activations), every token, fault and logged request, and the latency,
// as if the simulator had just been built: the registered triggers, the
// options given to New and the clock stay, and event sequence numbers and
// activation IDs keep counting, so an ID never names two activations. A
// Refresh Payload call under way when Reset runs is discarded when it
// returns.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sites = map[string]*site{}
	s.tokens = map[string]tokenGrant{}
	s.faults = nil
	s.latency = 0
	s.resetLogged += len(s.requests)
	s.requests = nil
	s.pending = nil
	s.inflight = map[*Activation]chan struct{}{}
}
