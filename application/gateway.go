package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxBatch is the most items Wix takes in one bulk report or bulk cancel.
const MaxBatch = 100

// ReportEvent is one event of a report: the entity it is about, its payload
// and its idempotency key (the outbox call's ID).
type ReportEvent struct {
	ExternalEntityID string
	Payload          json.RawMessage
	IdempotencyKey   string
}

// Gateway is the port to Wix Automations. Adapters: the Wix REST client
// (adapters/wix) and the simulator (adapters/wixsim).
//
// Both methods act on one site and one trigger key, with 1 to MaxBatch items.
// An adapter sends one item through the single endpoint and more through the
// bulk endpoint. The returned slice has one entry per item, nil for an item
// Wix accepted; the error is non-nil only when the request as a whole failed
// (then no item is known to have succeeded). Failures are *GatewayError, or
// transport errors, which are retryable.
type Gateway interface {
	Report(ctx context.Context, siteID, triggerKey string, events []ReportEvent) ([]error, error)
	Cancel(ctx context.Context, siteID, triggerKey string, externalEntityIDs []string) ([]error, error)
}

// GatewayError is a failure Wix (or its stand-in) answered. The relay reads
// Permanent and RetryAfter to decide a call's fate.
type GatewayError struct {
	Status     int           // HTTP status; 0 when Wix answered per item inside a 200
	Code       string        // Wix application error code, if any
	Message    string        // Wix's message; never a secret or token
	Permanent  bool          // true for 400, 401 (after one token refresh), 403, 404, 428
	RetryAfter time.Duration // from Retry-After, when Wix sent one
}

// Error implements error.
func (e *GatewayError) Error() string {
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Code != "" {
		return fmt.Sprintf("wix: HTTP %d %s (%s): %s", e.Status, e.Code, kind, e.Message)
	}
	return fmt.Sprintf("wix: HTTP %d (%s): %s", e.Status, kind, e.Message)
}

// PermanentStatus reports whether Wix answering status means the call will
// never succeed as it is: 400, 401, 403, 404, 409 and 428 are permanent;
// 429 and 5xx are not. (A 401 is permanent only after the gateway re-minted
// its token once; adapters handle that before they report it.)
func PermanentStatus(status int) bool {
	switch status {
	case 400, 401, 403, 404, 409, 428:
		return true
	}
	return status >= 400 && status < 500 && status != 408 && status != 429
}

// PermanentItemCode reports whether a bulk item that Wix failed inside an
// accepted request (HTTP 200) with this error code will never succeed as it
// is: every code but the transient ones (UNKNOWN, INTERNAL, UNAVAILABLE,
// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, or none). The REST
// gateway and the simulator both follow it.
func PermanentItemCode(code string) bool {
	switch code {
	case "", "UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED":
		return false
	}
	return true
}

// Classify turns any delivery failure into its CallError and whether it may
// be retried, and for how long Wix asked to wait. Errors that are not a
// *GatewayError are transport errors or timeouts: retryable.
func Classify(err error) (ce *CallError, permanent bool, retryAfter time.Duration) {
	var ge *GatewayError
	if errors.As(err, &ge) {
		return &CallError{Status: ge.Status, Code: ge.Code, Message: ge.Message}, ge.Permanent, ge.RetryAfter
	}
	return &CallError{Message: err.Error()}, false, 0
}
