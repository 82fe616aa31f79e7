package application

import (
	"context"
	"errors"

	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

// Code is a stable, coarse classification of an error, for transports (the
// HTTP API's problem details) and logs. Internals never leak through it.
type Code string

// The codes an error can have.
const (
	CodeInvalidArgument      Code = "invalid_argument"
	CodeNotFound             Code = "not_found"
	CodeTransitionNotAllowed Code = "transition_not_allowed"
	// CodeSuperseded: a retry of a call that a newer call of its pair
	// superseded (repair is reconcile).
	CodeSuperseded           Code = "superseded"
	CodeClassFull            Code = "class_full"
	CodeAlreadyEnrolled      Code = "already_enrolled"
	CodeConflict             Code = "conflict"
	CodePreconditionFailed   Code = "precondition_failed"
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
	CodeCanceled             Code = "canceled"
	CodeInternal             Code = "internal"
)

// ErrorCode classifies err with errors.Is, falling back to CodeInternal.
// Enrolling in a class that is canceled, completed or started is
// CodeTransitionNotAllowed: the class's state refuses it.
func ErrorCode(err error) Code {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, domain.ErrInvalid):
		return CodeInvalidArgument
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, outbox.ErrSuperseded):
		return CodeSuperseded
	case errors.Is(err, domain.ErrTransitionNotAllowed), errors.Is(err, domain.ErrClassNotOpen), errors.Is(err, ErrCallState):
		return CodeTransitionNotAllowed
	case errors.Is(err, domain.ErrClassFull):
		return CodeClassFull
	case errors.Is(err, domain.ErrAlreadyEnrolled):
		return CodeAlreadyEnrolled
	case errors.Is(err, ErrVersionMismatch):
		return CodePreconditionFailed
	case errors.Is(err, ErrIdempotencyKeyReused):
		return CodeIdempotencyKeyReused
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return CodeCanceled
	}
	return CodeInternal
}
