// Package site holds a site's settings: what lifecycle needs to know about
// a Wix site (an app instance) beyond its bookings. Today that is its time
// zone, the zone payloads show local times in.
//
// Settings have no life of their own (no states, no transitions): they are a
// record with a version, read by every command that builds payloads and
// changed by one command. A site that never set them has the defaults
// (Defaults).
package site

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Settings are one site's settings.
type Settings struct {
	siteID    domain.SiteID
	zone      domain.TimeZone
	changedAt time.Time
	version   int64
}

// Defaults returns the settings of a site that never set any: UTC, version 0
// (not stored). It is a *domain.ValidationError when siteID is the zero
// SiteID.
func Defaults(siteID domain.SiteID) (*Settings, error) {
	if err := siteID.Require(); err != nil {
		return nil, err
	}
	return &Settings{siteID: siteID}, nil
}

// SetTimeZone sets the site's time zone at time at. It reports whether the
// zone changed: setting the zone a site already has changes nothing.
func (s *Settings) SetTimeZone(z domain.TimeZone, at time.Time) bool {
	if z.Equal(s.zone) {
		return false
	}
	s.zone, s.changedAt = z, domain.Instant(at)
	return true
}

// SiteID returns the site.
func (s *Settings) SiteID() domain.SiteID { return s.siteID }

// TimeZone returns the site's time zone (UTC unless set).
func (s *Settings) TimeZone() domain.TimeZone { return s.zone }

// ChangedAt returns when the settings last changed; zero if never.
func (s *Settings) ChangedAt() time.Time { return s.changedAt }

// Version returns the stored version (0 when never stored).
func (s *Settings) Version() int64 { return s.version }

// SetVersion is for store adapters only: it records the version just
// written.
func (s *Settings) SetVersion(v int64) { s.version = v }

// Snapshot is the stored form of a site's settings, for store adapters.
type Snapshot struct {
	SiteID    string
	TimeZone  string // an IANA name
	ChangedAt time.Time
	Version   int64
}

// Snapshot returns the stored form.
func (s *Settings) Snapshot() Snapshot {
	return Snapshot{SiteID: s.siteID.String(), TimeZone: s.zone.Name(), ChangedAt: s.changedAt, Version: s.version}
}

// Restore rebuilds settings from their stored form, for store adapters
// only. It returns a *domain.ValidationError when the site or the zone is
// invalid (a zone this binary's zone database does not know).
func Restore(s Snapshot) (*Settings, error) {
	site, err := domain.ParseSiteID(s.SiteID)
	if err != nil {
		return nil, err
	}
	z, err := domain.ParseTimeZone(s.TimeZone)
	if err != nil {
		return nil, err
	}
	return &Settings{siteID: site, zone: z, changedAt: s.ChangedAt.UTC(), version: s.Version}, nil
}
