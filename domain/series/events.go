package series

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Header is what every series event carries.
type Header struct {
	SeriesID, ContactID domain.ID
	SiteID              domain.SiteID
	Title               string
	At                  time.Time
}

// OccurredAt returns when the event happened.
func (h Header) OccurredAt() time.Time { return h.At }

// Scheduled is recorded when a series is created.
type Scheduled struct {
	Header
	Every Every
	Count int
}

// CanceledFollowing is recorded when "this and following" cuts a series
// before occurrence From.
type CanceledFollowing struct {
	Header
	From   int
	Reason string
}

// Canceled is recorded when a whole series is canceled.
type Canceled struct {
	Header
	Reason string
}

// EventName implements domain.Event.
func (Scheduled) EventName() string { return "series:scheduled" }

// EventName implements domain.Event.
func (CanceledFollowing) EventName() string { return "series:canceled_following" }

// EventName implements domain.Event.
func (Canceled) EventName() string { return "series:canceled" }
