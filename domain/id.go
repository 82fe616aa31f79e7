package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ID is a validated identifier: the canonical lowercase form of a UUID that
// is not the nil UUID. Wix requires externalEntityId to be a GUID and site
// (instance) IDs are UUIDs, so every identifier in lifecycle is one. An ID
// is parsed once where it enters (an HTTP request, a flag, a stored row) and
// carried inward as a value, so no layer re-validates it; the zero ID is
// "none" and every constructor refuses it.
type ID struct{ s string }

// SiteID is a validated Wix site (app instance) ID. It is its own type so
// that a site cannot be passed where an entity is expected, or the reverse.
type SiteID struct{ s string }

// ParseID validates that s is a UUID and returns it as an ID in canonical
// form. field names the input in the *ValidationError.
func ParseID(field, s string) (ID, error) {
	c, err := canonicalUUID(field, s)
	return ID{c}, err
}

// ParseSiteID validates a site (Wix app instance) ID. An empty site is its
// own error because it is the most common mistake of an embedding product.
func ParseSiteID(s string) (SiteID, error) {
	if strings.TrimSpace(s) == "" {
		return SiteID{}, Invalid("siteId", "is required (the Wix app instance ID)")
	}
	c, err := canonicalUUID("siteId", s)
	return SiteID{c}, err
}

// MustID is ParseID for identifiers known to be valid (tests, examples,
// IDs minted by the program); it panics on an invalid one.
func MustID(s string) ID {
	id, err := ParseID("id", s)
	if err != nil {
		panic(err)
	}
	return id
}

// MustSiteID is ParseSiteID for site IDs known to be valid; it panics on an
// invalid one.
func MustSiteID(s string) SiteID {
	id, err := ParseSiteID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func canonicalUUID(field, s string) (string, error) {
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

// String returns the canonical form, or "" for the zero ID.
func (id ID) String() string { return id.s }

// IsZero reports whether id is the zero ID (none).
func (id ID) IsZero() bool { return id.s == "" }

// Require returns a *ValidationError on field when id is the zero ID, so
// that constructors refuse a missing identifier with the field's name.
func (id ID) Require(field string) error {
	if id.s == "" {
		return Invalid(field, "is required")
	}
	return nil
}

// MarshalText writes the canonical form, so that an ID is a JSON string.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText parses a UUID; empty text is the zero ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	v, err := ParseID("id", string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// String returns the canonical form, or "" for the zero SiteID.
func (id SiteID) String() string { return id.s }

// IsZero reports whether id is the zero SiteID (none).
func (id SiteID) IsZero() bool { return id.s == "" }

// Require returns the *ValidationError of a missing site when id is zero.
func (id SiteID) Require() error {
	if id.s == "" {
		return Invalid("siteId", "is required (the Wix app instance ID)")
	}
	return nil
}

// MarshalText writes the canonical form, so that a SiteID is a JSON string.
func (id SiteID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText parses a site ID; empty text is the zero SiteID.
func (id *SiteID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = SiteID{}
		return nil
	}
	v, err := ParseSiteID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// First returns the first non-nil error, so that a constructor can list its
// checks in the order their errors should be reported.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
