package domain

import (
	"strings"
	"time"
	// The zone database is embedded so that a site's zone means the same on
	// every machine, with or without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// TimeZone is an IANA time zone (such as "Europe/Berlin"), the zone a site's
// customers read their times in. Instants stay UTC everywhere in lifecycle;
// a TimeZone only says how to show them, and which wall-clock time a
// recurring booking keeps. The zero TimeZone is UTC.
type TimeZone struct{ loc *time.Location }

// UTC is the time zone of a site that never set one.
func UTC() TimeZone { return TimeZone{} }

// MaxTimeZoneLen bounds a zone name; the longest IANA name has 32 bytes.
const MaxTimeZoneLen = 64

// ParseTimeZone reads an IANA zone name. It is a *ValidationError on the
// field "timeZone" when the name is empty, "Local" (the machine's zone,
// which means nothing to a site's customers) or not a zone of the IANA
// database.
func ParseTimeZone(name string) (TimeZone, error) {
	switch {
	case strings.TrimSpace(name) == "":
		return TimeZone{}, Invalid("timeZone", "is required (an IANA zone name such as Europe/Berlin)")
	case len(name) > MaxTimeZoneLen:
		return TimeZone{}, Invalid("timeZone", "is too long")
	case name == "Local":
		return TimeZone{}, Invalid("timeZone", "must name an IANA zone such as Europe/Berlin, not the machine's")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return TimeZone{}, Invalid("timeZone", "is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)")
	}
	if loc.String() == "UTC" {
		return TimeZone{}, nil
	}
	return TimeZone{loc: loc}, nil
}

// Name returns the zone's IANA name, "UTC" for the zero TimeZone.
func (z TimeZone) Name() string {
	if z.loc == nil {
		return "UTC"
	}
	return z.loc.String()
}

// Equal reports whether z and o are the same zone. Compare zones with it,
// not with ==: two parses of one name are two *time.Location values.
func (z TimeZone) Equal(o TimeZone) bool { return z.Name() == o.Name() }

// Location returns the zone as a *time.Location.
func (z TimeZone) Location() *time.Location {
	if z.loc == nil {
		return time.UTC
	}
	return z.loc
}

// In returns t on the zone's wall clock.
func (z TimeZone) In(t time.Time) time.Time { return t.In(z.Location()) }

// LocalFormat is how FormatLocal writes a wall-clock time: ISO 8601 date
// and time to the minute, without an offset ("2030-03-26T09:00").
const LocalFormat = "2006-01-02T15:04"

// TextFormat is how FormatText writes a wall-clock time for people: the
// weekday, the date and the 24-hour time, in English ("Tuesday 26 March
// 2030, 09:00").
const TextFormat = "Monday 2 January 2006, 15:04"

// FormatLocal writes t as the zone's wall clock shows it, in LocalFormat,
// and "" for the zero time.
func (z TimeZone) FormatLocal(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return z.In(t).Format(LocalFormat)
}

// FormatText writes t as the zone's wall clock shows it, in TextFormat,
// and "" for the zero time.
func (z TimeZone) FormatText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return z.In(t).Format(TextFormat)
}
