// Package outbox is the life of one Wix call, in one place: the call and its
// states, the transition table every adapter follows (rendered as
// docs/states/call.mmd), the predicates adapters call (which outcomes apply
// in which state, when retry and discard are allowed, which older calls a
// newer one supersedes), what lifecycle believes is live at Wix for a
// (site, trigger, entity), and the Outbox port the relay and operators use.
//
// Adapters keep storage only: they ask this package what a change means and
// write down the answer. A rule of a call's life written in an adapter is a
// defect, because the next adapter would write it again.
package outbox

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kind says whether a call reports an event or cancels events.
type Kind string

// The kinds of Wix call.
const (
	KindReport Kind = "report"
	KindCancel Kind = "cancel"
)

// Kinds lists both kinds.
var kinds = []Kind{KindReport, KindCancel}

// ParseKind reads a Kind from text.
func ParseKind(s string) (Kind, error) {
	for _, k := range kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown call kind %q", s)
}

// State is where a call is in its life. See the transition table in life.go
// and docs/states/call.mmd.
type State string

// The states of a call.
const (
	// StatePending: waiting to be sent, or to be retried at NextAttemptAt.
	StatePending State = "pending"
	// StateDelivered: Wix accepted it.
	StateDelivered State = "delivered"
	// StateDead: Wix refused it for good; LastError says why. The ordering
	// key went on with its next call. It is the newest call of its pair,
	// so an operator may retry it.
	StateDead State = "dead"
	// StateExpired: a scheduled report whose date-time had passed when it
	// came due; it was not sent.
	StateExpired State = "expired"
	// StateDiscarded: an operator gave it up.
	StateDiscarded State = "discarded"
	// StateSuperseded: a newer call of the same site, trigger and entity
	// decides what Wix ends with, so this one is never sent after it
	// (SupersededBy names it). Not a dead letter: nothing to act on.
	StateSuperseded State = "superseded"
)

// String returns the state's stored and wire name.
func (s State) String() string { return string(s) }

// States lists every state, in the order operators read them.
func States() []State {
	return []State{StatePending, StateDelivered, StateDead, StateExpired, StateDiscarded, StateSuperseded}
}

// ParseState reads a State from text.
func ParseState(s string) (State, error) {
	for _, st := range States() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown call state %q", s)
}

// Call is one Wix call in the outbox: a report or a cancel of one trigger for
// one externalEntityId on one site.
type Call struct {
	ID               string // UUID; for a report, also its idempotency key at Wix
	SiteID           string
	OrderingKey      string // SiteID + "/" + ExternalEntityID: calls with one key go one at a time, in Seq order
	Seq              int64  // commit order, assigned by the outbox
	Kind             Kind
	TriggerKey       string
	ExternalEntityID string
	Payload          json.RawMessage // the report's payload object; empty for a cancel
	ScheduledAt      time.Time       // for a scheduled report, the event's date-time; zero otherwise
	Cause            string          // what asked for the call, e.g. "appointment:canceled" or "reconcile"
	State            State
	Attempts         int
	NextAttemptAt    time.Time
	LastError        *CallError
	CreatedAt        time.Time
	SettledAt        time.Time // when it left pending (delivered, dead, expired, discarded, superseded)
	// SupersededBy is the ID of the newer call of the same pair that
	// superseded this one; empty unless State is superseded.
	SupersededBy string
	// MaybeSent says the call left pending (superseded, discarded) while a
	// relay held it: it may have been sent, though no attempt was recorded
	// (the relay may have died before recording it).
	MaybeSent bool
	// Lease is set on the calls Claim returns: the relay must settle them
	// with its Token, and may send them only until Until.
	Lease Lease
}

// Pair returns what Wix's cancel acts on: the site, trigger and entity.
func (c Call) Pair() Pair {
	return Pair{SiteID: c.SiteID, TriggerKey: c.TriggerKey, ExternalEntityID: c.ExternalEntityID}
}

// Pair is a (site, triggerKey, externalEntityId): a cancel removes every
// event of its pair at Wix, and only the newest call of a pair decides what
// Wix ends with.
type Pair struct {
	SiteID, TriggerKey, ExternalEntityID string
}

// String returns the pair as site/trigger/entity.
func (p Pair) String() string { return p.SiteID + "/" + p.TriggerKey + "/" + p.ExternalEntityID }

// OrderingKey returns the key that orders the calls of one entity on one site.
func OrderingKey(siteID, externalEntityID string) string {
	return siteID + "/" + externalEntityID
}

// Lease is a relay's hold on a claimed call. Token only grows: a settle or
// renewal whose token is no longer the call's changes nothing but history
// (fencing). Until is when the hold ends unless renewed; a relay sends a
// call only while the lease outlives the whole request.
type Lease struct {
	Token int64
	Until time.Time
}

// CallError is the failure of one delivery attempt, as kept in the outbox
// for operators.
type CallError struct {
	Status  int    `json:"status,omitempty"`  // HTTP status; 0 for a transport error
	Code    string `json:"code,omitempty"`    // Wix application error code, if any
	Message string `json:"message,omitempty"` // never contains a secret or token
}

// Error implements error.
func (e *CallError) Error() string {
	switch {
	case e.Status != 0 && e.Code != "":
		return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
	case e.Status != 0:
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return e.Message
}

// Attempt is one entry of a call's history.
type Attempt struct {
	At    time.Time
	State State // the state the call moved to, or the outcome reported
	Err   *CallError
	// Note says what an operator action did, or why an outcome was not
	// applied (its lease had ended, the call had left pending meanwhile).
	Note string
}

// Detail is a call with its history, for operators.
type Detail struct {
	Call
	History []Attempt
}
