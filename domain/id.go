package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ParseID validates that s is a UUID and returns its canonical lowercase
// form. Wix requires externalEntityId to be a GUID and site (instance) IDs are
// UUIDs, so every identifier in lifecycle is one. field names the input in
// the error.
func ParseID(field, s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", Invalid(field, "is required")
	}
	if len(s) != 36 {
		return "", Invalid(field, "must be a UUID (36 characters, e.g. 6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11)")
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", Invalid(field, "must be a UUID")
	}
	if u == uuid.Nil {
		return "", Invalid(field, "must not be the nil UUID")
	}
	return u.String(), nil
}

// ParseSiteID validates a site (Wix app instance) ID. An empty site is its
// own error because it is the most common mistake of an embedding product.
func ParseSiteID(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", Invalid("siteId", "is required (the Wix app instance ID)")
	}
	return ParseID("siteId", s)
}

// Instant normalizes a time to what lifecycle keeps: UTC, at millisecond
// precision. Stores keep milliseconds, and a payload's date-time must equal
// the stored time exactly, so every time enters the domain through it.
func Instant(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// CheckSpan validates a start and end time against now: the start must lie
// in the future and the end after the start. Fields are named startsAt and
// endsAt, as callers of the API name them.
func CheckSpan(start, end, now time.Time) error {
	switch {
	case start.IsZero():
		return Invalid("startsAt", "is required")
	case end.IsZero():
		return Invalid("endsAt", "is required")
	case !start.After(now):
		return Invalid("startsAt", "must be in the future")
	case !end.After(start):
		return Invalid("endsAt", "must be after startsAt")
	}
	return nil
}

// CheckText validates a free-text field: at most max bytes of valid UTF-8.
func CheckText(field, s string, max int) error {
	if len(s) > max {
		return Invalid(field, "is too long")
	}
	if !utf8.ValidString(s) {
		return Invalid(field, "must be valid UTF-8")
	}
	return nil
}

// FormatInstant writes t as lifecycle writes every date-time it shows: RFC
// 3339 in UTC, with a fraction of a second only when t has one (so that a
// scheduled report's date-time at Wix is its ScheduledAt exactly), and ""
// for the zero time.
func FormatInstant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
