package outbox

import (
	"github.com/bookable/lifecycle/domain"
)

// The events of a call's life, as its transition table names them.
const (
	// EventDeliver: Wix accepted the call.
	EventDeliver = "deliver"
	// EventPostpone: the call stays pending, due again later (a retryable
	// failure, a site out of its rate limit, a relay handing it back).
	EventPostpone = "postpone"
	// EventRefuse: Wix refused the call for good.
	EventRefuse = "refuse"
	// EventExpire: a scheduled report's date-time passed before it was sent.
	EventExpire = "expire"
	// EventSupersede: a newer call of the same pair was committed.
	EventSupersede = "supersede"
	// EventDiscard: an operator gave the call up.
	EventDiscard = "discard"
	// EventRetry: an operator put the call back, at the tail of its key.
	EventRetry = "retry"
)

// table is a call's life, the one place it is written. Every adapter moves
// calls only along these rows (through Next and the predicates below), and
// docs/states/call.mmd is rendered from it.
var table = domain.MustTable("call", States(), []domain.Transition[State]{
	{Event: EventDeliver, From: []State{StatePending}, To: StateDelivered},
	{Event: EventPostpone, From: []State{StatePending}, To: StatePending},
	{Event: EventRefuse, From: []State{StatePending}, To: StateDead},
	{Event: EventExpire, From: []State{StatePending}, To: StateExpired},
	{Event: EventSupersede, From: []State{StatePending, StateDead, StateExpired}, To: StateSuperseded},
	{Event: EventDiscard, From: []State{StatePending, StateDead, StateExpired}, To: StateDiscarded},
	{Event: EventRetry, From: []State{StateDead, StateExpired}, To: StatePending},
})

// next is table as a lookup: next[from][event] = to.
var next = func() map[State]map[string]State {
	m := map[State]map[string]State{}
	for _, t := range table.Transitions() {
		for _, f := range t.From {
			if m[f] == nil {
				m[f] = map[string]State{}
			}
			m[f][t.Event] = t.To
		}
	}
	return m
}()

// Transitions returns a copy of the call's transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Mermaid renders the call's life as a Mermaid state diagram
// (docs/states/call.mmd).
func Mermaid() string { return table.Mermaid(StatePending) }

// Next returns the state event leads to from state from, or a *StateError
// when the table has no such row.
func Next(id string, from State, event string) (State, error) {
	to, ok := next[from][event]
	if !ok {
		return "", &StateError{ID: id, State: from, Op: event}
	}
	return to, nil
}

// Final reports whether a call in state s will never be sent again unless
// an operator retries it.
func Final(s State) bool { return s != StatePending }

// PrunableStates lists the states whose calls `outbox prune` may delete once
// settled long enough: they will never be sent again and nobody acts on
// them. Dead and expired calls stay for operators.
func PrunableStates() []State {
	return []State{StateDelivered, StateDiscarded, StateSuperseded}
}

// Prunable reports whether s is one of PrunableStates.
func Prunable(s State) bool {
	for _, p := range PrunableStates() {
		if p == s {
			return true
		}
	}
	return false
}

// OutcomeEvent returns the event of the table an outcome state stands for:
// delivered, pending (postponed), dead (refused) or expired. ok is false
// for any other state: a relay may report only these.
func OutcomeEvent(s State) (event string, ok bool) {
	switch s {
	case StateDelivered:
		return EventDeliver, true
	case StatePending:
		return EventPostpone, true
	case StateDead:
		return EventRefuse, true
	case StateExpired:
		return EventExpire, true
	}
	return "", false
}

// Settled returns the state a call in state from reaches through an
// outcome, and whether the outcome changes the call at all. An outcome
// applies only to a pending call: one that left pending while it was in
// flight (discarded, superseded) keeps its state, and the outcome is history
// only. newer says whether a call of the same pair was committed after this
// one: a call that would end dead or expired is then superseded instead, as
// retrying it would send it after the newer call.
func Settled(from, outcome State, newer bool) (to State, applies bool, err error) {
	event, ok := OutcomeEvent(outcome)
	if !ok {
		return "", false, &StateError{State: outcome, Op: "settle"}
	}
	if from != StatePending {
		return from, false, nil
	}
	to, err = Next("", from, event)
	if err != nil {
		return "", false, err
	}
	if newer && (to == StateDead || to == StateExpired) {
		if to, err = Next("", to, EventSupersede); err != nil {
			return "", false, err
		}
	}
	return to, true, nil
}

// NotApplied is the note an adapter keeps in the history of a call in state
// s beside an outcome that did not apply to it: the call had left pending
// (a pending call means the outcome's lease had ended).
func NotApplied(s State) string {
	if s == StatePending {
		return "not applied: the lease it was claimed with had ended"
	}
	return "not applied: the call is " + string(s)
}

// CheckRetry says whether an operator may retry c: it must be dead or
// expired, and the newest call of its pair (a superseded call is refused
// with a *SupersededError naming the newer call).
func CheckRetry(c Call) error {
	if c.State == StateSuperseded {
		return &SupersededError{ID: c.ID, NewerID: c.SupersededBy}
	}
	_, err := Next(c.ID, c.State, EventRetry)
	return err
}

// CheckDiscard says whether an operator may discard c: pending, dead or
// expired.
func CheckDiscard(c Call) error {
	_, err := Next(c.ID, c.State, EventDiscard)
	return err
}
