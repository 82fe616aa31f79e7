package application

import "github.com/bookable/lifecycle/application/outbox"

// The call model lives in application/outbox; these names keep the
// application's API readable where handlers and ports mention calls.
type (
	// Call is an outbox call (see outbox.Call).
	Call = outbox.Call
	// CallKind is report or cancel (see outbox.Kind).
	CallKind = outbox.Kind
	// CallState is a call's state (see outbox.State).
	CallState = outbox.State
	// CallError is a delivery failure kept for operators (see outbox.CallError).
	CallError = outbox.CallError
	// Attempt is one entry of a call's history (see outbox.Attempt).
	Attempt = outbox.Attempt
	// CallDetail is a call with its history (see outbox.Detail).
	CallDetail = outbox.Detail
	// Outbox is the port the relay and operators use (see outbox.Outbox).
	Outbox = outbox.Outbox
	// Filter selects calls for Outbox.List (see outbox.Filter).
	Filter = outbox.Filter
	// Outcome is what happened to one claimed call (see outbox.Outcome).
	Outcome = outbox.Outcome
)

// The kinds and states of a call (see application/outbox).
const (
	KindReport = outbox.KindReport
	KindCancel = outbox.KindCancel

	StatePending    = outbox.StatePending
	StateDelivered  = outbox.StateDelivered
	StateDead       = outbox.StateDead
	StateExpired    = outbox.StateExpired
	StateDiscarded  = outbox.StateDiscarded
	StateSuperseded = outbox.StateSuperseded
)

// OrderingKey returns the key that orders the calls of one entity on one site.
func OrderingKey(siteID, externalEntityID string) string {
	return outbox.OrderingKey(siteID, externalEntityID)
}
