package outbox

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the Outbox port, wrapped or not; callers test with errors.Is.
var (
	// ErrNotFound: no such call on this site. Another site's call is not
	// found either. application.ErrNotFound is this same value.
	ErrNotFound = errors.New("not found")
	// ErrCallState: an operation does not apply to the call's state (for
	// example, retrying a delivered call). *StateError and
	// *SupersededError match it.
	ErrCallState = errors.New("operation not allowed in the call's state")
	// ErrSuperseded: the call was superseded by a newer call of its pair;
	// retrying it would undo what the newer call did. Repair is reconcile.
	ErrSuperseded = errors.New("call superseded by a newer call of the same trigger and entity")
	// ErrStandby: another relay holds the store's relay lease (adapters
	// with one active relay per store, such as SQLite); *StandbyError says
	// until when.
	ErrStandby = errors.New("another relay is active on this store")
	// ErrLeaseLost: the relay's lease ended (it expired and another relay
	// took the calls, or the store moved on): it must not send the calls.
	ErrLeaseLost = errors.New("lease lost")
)

// StateError is an operation refused by the call's transition table.
type StateError struct {
	ID    string
	State State
	Op    string // the refused event, e.g. "retry"
}

// Error implements error.
func (e *StateError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("cannot %s a call in state %s", e.Op, e.State)
	}
	return fmt.Sprintf("cannot %s call %s in state %s", e.Op, e.ID, e.State)
}

// Unwrap lets errors.Is(err, ErrCallState) match.
func (e *StateError) Unwrap() error { return ErrCallState }

// SupersededError refuses to retry a call that a newer call of its pair
// superseded.
type SupersededError struct {
	ID      string // the refused call
	NewerID string // the call that superseded it
}

// Error implements error.
func (e *SupersededError) Error() string {
	return fmt.Sprintf("call %s was superseded by newer call %s of the same trigger and entity: retrying it would undo that call; run reconcile to repair the entity", e.ID, e.NewerID)
}

// Is lets errors.Is match ErrSuperseded and ErrCallState.
func (e *SupersededError) Is(target error) bool {
	return target == ErrSuperseded || target == ErrCallState
}

// StandbyError says which relay holds the store's relay lease, and until when.
type StandbyError struct {
	Holder string
	Until  time.Time
}

// Error implements error.
func (e *StandbyError) Error() string {
	return fmt.Sprintf("relay %s is active on this store until %s", e.Holder, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap lets errors.Is(err, ErrStandby) match.
func (e *StandbyError) Unwrap() error { return ErrStandby }
