package application

import (
	"encoding/json"
	"fmt"
	"time"
)

// CallKind says whether a call reports an event or cancels events.
type CallKind string

// The kinds of Wix call.
const (
	KindReport CallKind = "report"
	KindCancel CallKind = "cancel"
)

// ParseCallKind reads a CallKind from text.
func ParseCallKind(s string) (CallKind, error) {
	switch k := CallKind(s); k {
	case KindReport, KindCancel:
		return k, nil
	}
	return "", fmt.Errorf("unknown call kind %q", s)
}

// CallState is where a call is in the outbox.
type CallState string

// The states of an outbox call.
const (
	// StatePending: waiting to be sent, or to be retried at NextAttemptAt.
	StatePending CallState = "pending"
	// StateDelivered: Wix accepted it.
	StateDelivered CallState = "delivered"
	// StateDead: Wix refused it for good (or an operator must look at it);
	// LastError says why. The ordering key went on with its next call.
	StateDead CallState = "dead"
	// StateExpired: a scheduled report whose date-time had passed when it
	// came due; it was not sent.
	StateExpired CallState = "expired"
	// StateDiscarded: an operator gave it up.
	StateDiscarded CallState = "discarded"
)

// CallStates lists every state, in the order operators read them.
var CallStates = []CallState{StatePending, StateDelivered, StateDead, StateExpired, StateDiscarded}

// ParseCallState reads a CallState from text.
func ParseCallState(s string) (CallState, error) {
	for _, st := range CallStates {
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
	Kind             CallKind
	TriggerKey       string
	ExternalEntityID string
	Payload          json.RawMessage // the report's payload object; empty for a cancel
	ScheduledAt      time.Time       // for a scheduled report, the event's date-time; zero otherwise
	Cause            string          // the domain event that asked for the call, e.g. "appointment:canceled"
	State            CallState
	Attempts         int
	NextAttemptAt    time.Time
	LastError        *CallError
	CreatedAt        time.Time
	SettledAt        time.Time // when it became delivered, dead, expired or discarded
}

// OrderingKey returns the key that orders the calls of one entity on one site.
func OrderingKey(siteID, externalEntityID string) string {
	return siteID + "/" + externalEntityID
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
	State CallState // the state the call moved to
	Err   *CallError
}

// CallDetail is a call with its history, for operators.
type CallDetail struct {
	Call
	History []Attempt
}
