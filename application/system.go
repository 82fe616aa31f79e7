package application

import (
	"time"

	"github.com/google/uuid"
)

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// UUIDv7 mints time-ordered random UUIDs (RFC 9562 version 7), which keep
// store indexes compact.
type UUIDv7 struct{}

// NewID returns a new UUID.
func (UUIDv7) NewID() string { return uuid.Must(uuid.NewV7()).String() }
