package httpapi

import (
	"net/http"
	"strconv"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// Series is the JSON of an appointment series, with its occurrences.
type Series struct {
	ID          string       `json:"id"`
	SiteID      string       `json:"siteId"`
	ContactID   string       `json:"contactId"`
	Title       string       `json:"title"`
	Every       string       `json:"every"` // day or week
	Count       int          `json:"count"`
	TimeZone    string       `json:"timeZone"` // the zone whose wall-clock time the occurrences keep
	State       string       `json:"state"`    // scheduled or canceled
	CutFrom     int          `json:"cutFrom,omitempty"`
	Occurrences []Occurrence `json:"occurrences"`
	Version     int64        `json:"version"`
}

// Occurrence is one occurrence of a series: an appointment of its own.
type Occurrence struct {
	Number        int    `json:"number"`
	AppointmentID string `json:"appointmentId"`
	StartsAt      string `json:"startsAt"`
	EndsAt        string `json:"endsAt"`
	State         string `json:"state"` // the appointment's state
}

func seriesJSON(w http.ResponseWriter, v application.SeriesView) Series {
	setETag(w, v.Version)
	out := Series{ID: v.ID.String(), SiteID: v.SiteID.String(), ContactID: v.ContactID.String(), Title: v.Title, Every: v.Every, Count: v.Count,
		TimeZone: v.TimeZone, State: v.State, CutFrom: v.CutFrom, Version: v.Version, Occurrences: []Occurrence{}}
	for _, o := range v.Occurrences {
		out.Occurrences = append(out.Occurrences, Occurrence{Number: o.Number, AppointmentID: o.AppointmentID.String(),
			StartsAt: domain.FormatInstant(o.StartsAt), EndsAt: domain.FormatInstant(o.EndsAt), State: o.State})
	}
	return out
}

// SiteSettings is the JSON of a site's settings.
type SiteSettings struct {
	SiteID   string `json:"siteId"`
	TimeZone string `json:"timeZone"` // an IANA zone name; UTC unless set
	Version  int64  `json:"version"`  // 0 while the site never set any
}

// Request bodies of series and settings.
type (
	createSeriesRequest struct {
		ID        *string `json:"id"`
		ContactID *string `json:"contactId"`
		Title     *string `json:"title"`
		StartsAt  *string `json:"startsAt"`
		EndsAt    *string `json:"endsAt"`
		Every     *string `json:"every"`
		Count     *int    `json:"count"`
	}
	cancelSeriesRequest struct {
		Scope      *string `json:"scope"`
		Occurrence *int    `json:"occurrence"`
		Reason     *string `json:"reason"`
	}
	settingsRequest struct {
		TimeZone *string `json:"timeZone"`
	}
)

// scheduleSeries: POST /v1/sites/{site}/series.
func (s *Server) scheduleSeries(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	var req createSeriesRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.ScheduleSeries{SiteID: site, ID: c.optID("id", req.ID), ContactID: c.reqID("contactId", req.ContactID),
		Title: str(req.Title), StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IdempotencyKey: c.idempotencyKey(r)}
	if cmd.Every = str(req.Every); cmd.Every == "" {
		c.add("every", `is required ("day" or "week")`)
	}
	if req.Count == nil {
		c.add("count", "is required")
	} else {
		cmd.Count = *req.Count
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.ScheduleSeries.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/series/"+v.ID.String())
	return http.StatusCreated, seriesJSON(w, v), nil
}

// getSeries: GET /v1/sites/{site}/series/{id}.
func (s *Server) getSeries(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetSeries{SiteID: c.site(r), ID: c.path(r, "id")}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetSeries.Handle(r.Context(), q)
	return http.StatusOK, seriesJSON(w, v), err
}

// cancelSeries: POST /v1/sites/{site}/series/{id}/cancel with {scope,
// occurrence, reason}: "this" or "following" name an occurrence, "all" none.
func (s *Server) cancelSeries(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req cancelSeriesRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.CancelSeries{SiteID: site, ID: id, Scope: str(req.Scope), Reason: str(req.Reason),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	switch {
	case cmd.Scope != application.SeriesThis && cmd.Scope != application.SeriesFollowing && cmd.Scope != application.SeriesAll:
		c.add("scope", `must be "this", "following" or "all"`)
	case cmd.Scope != application.SeriesAll && req.Occurrence == nil:
		c.add("occurrence", "is required for "+cmd.Scope)
	case cmd.Scope == application.SeriesAll && req.Occurrence != nil:
		c.add("occurrence", `must be left out for "all"`)
	}
	if req.Occurrence != nil {
		cmd.Occurrence = *req.Occurrence
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.CancelSeries.Handle(r.Context(), cmd)
	return http.StatusOK, seriesJSON(w, v), err
}

// rescheduleOccurrence: POST .../series/{id}/occurrences/{number}/reschedule.
func (s *Server) rescheduleOccurrence(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || n < 1 {
		c.add("number", "must be an occurrence number (1, 2, ...)")
	}
	var req rescheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.RescheduleOccurrence{SiteID: site, SeriesID: id, Occurrence: n,
		StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.RescheduleOccurrence.Handle(r.Context(), cmd)
	return http.StatusOK, seriesJSON(w, v), err
}

// getSiteSettings: GET /v1/sites/{site}/settings.
func (s *Server) getSiteSettings(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetSiteSettings{SiteID: c.site(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetSiteSettings.Handle(r.Context(), q)
	setETag(w, v.Version)
	return http.StatusOK, SiteSettings{SiteID: v.SiteID.String(), TimeZone: v.TimeZone, Version: v.Version}, err
}

// setSiteSettings: PUT /v1/sites/{site}/settings with {timeZone}.
func (s *Server) setSiteSettings(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	var req settingsRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.SetTimeZone{SiteID: site, TimeZone: str(req.TimeZone), IfVersion: c.ifMatch(r),
		IdempotencyKey: c.idempotencyKey(r)}
	if req.TimeZone == nil {
		c.add("timeZone", "is required (an IANA zone name such as Europe/Berlin)")
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.SetTimeZone.Handle(r.Context(), cmd)
	setETag(w, v.Version)
	return http.StatusOK, SiteSettings{SiteID: v.SiteID.String(), TimeZone: v.TimeZone, Version: v.Version}, err
}
