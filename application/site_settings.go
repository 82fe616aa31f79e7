package application

import (
	"context"
	"errors"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/site"
)

// SiteSettingsView is a site's settings as handlers return them.
type SiteSettingsView struct {
	SiteID   domain.SiteID
	TimeZone string // an IANA name; UTC unless set
	Version  int64  // 0 while the site never saved settings
}

func siteSettingsView(s *site.Settings) SiteSettingsView {
	return SiteSettingsView{SiteID: s.SiteID(), TimeZone: s.TimeZone().Name(), Version: s.Version()}
}

// loadSettings returns the site's settings, or its defaults.
func loadSettings(ctx context.Context, tx ReadTx, siteID domain.SiteID) (*site.Settings, error) {
	s, err := tx.SiteSettings(ctx, siteID)
	if errors.Is(err, ErrNotFound) {
		return site.Defaults(siteID)
	}
	return s, err
}

// SetTimeZone sets the IANA time zone that a site's payloads show local
// times in.
type SetTimeZone struct {
	SiteID   domain.SiteID
	TimeZone string // an IANA name
	// IfVersion, when set, is the settings version the caller last read (0
	// for a site that never saved any).
	IfVersion      *int64
	IdempotencyKey string // optional; see Idempotency
}

// SetTimeZoneHandler handles SetTimeZone.
type SetTimeZoneHandler struct{ r *runner }

// Handle stores the site's zone. It queues no call: the events already at
// Wix keep their payloads until `reconcile` compares them with what the
// bookings call for in the new zone (it reports again every scheduled event
// whose payload changed, cancel first; real-time events are not sent
// twice), and Refresh Payload answers in the new zone at once. Setting the
// zone the site has changes nothing. Errors: *domain.ValidationError for a
// zone that is not an IANA one, *VersionMismatchError.
func (h SetTimeZoneHandler) Handle(ctx context.Context, cmd SetTimeZone) (SiteSettingsView, error) {
	siteID := cmd.SiteID
	if err := siteID.Require(); err != nil {
		return SiteSettingsView{}, err
	}
	z, err := domain.ParseTimeZone(cmd.TimeZone)
	if err != nil {
		return SiteSettingsView{}, err
	}
	var out SiteSettingsView
	err = h.r.runOnce(ctx, "set time zone", siteID, once{cmd.IdempotencyKey, cmd}, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		s, err := loadSettings(ctx, tx, siteID)
		if err != nil {
			return nil, err
		}
		if err := checkVersion("site settings", siteID, cmd.IfVersion, s.Version()); err != nil {
			return nil, err
		}
		if s.SetTimeZone(z, now) {
			if err := tx.SaveSiteSettings(ctx, s); err != nil {
				return nil, err
			}
		}
		out = siteSettingsView(s)
		return nil, nil
	})
	return out, err
}

// GetSiteSettings asks for a site's settings.
type GetSiteSettings struct{ SiteID domain.SiteID }

// GetSiteSettingsHandler handles GetSiteSettings.
type GetSiteSettingsHandler struct{ r *runner }

// Handle returns the site's settings: the defaults (UTC, version 0) for a
// site that never saved any. Errors: *domain.ValidationError for a bad site.
func (h GetSiteSettingsHandler) Handle(ctx context.Context, q GetSiteSettings) (SiteSettingsView, error) {
	siteID := q.SiteID
	if err := siteID.Require(); err != nil {
		return SiteSettingsView{}, err
	}
	var out SiteSettingsView
	err := h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		s, err := loadSettings(ctx, tx, siteID)
		if err != nil {
			return err
		}
		out = siteSettingsView(s)
		return nil
	})
	return out, err
}
