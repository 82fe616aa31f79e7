package httpapi

import (
	"net/http"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// Appointment is the JSON of an appointment. Times are RFC 3339 in UTC.
type Appointment struct {
	ID           string `json:"id"`
	SiteID       string `json:"siteId"`
	ContactID    string `json:"contactId"`
	StartsAt     string `json:"startsAt"`
	EndsAt       string `json:"endsAt"`
	Title        string `json:"title"`
	State        string `json:"state"` // scheduled, canceled, completed or no_show
	CancelReason string `json:"cancelReason,omitempty"`
	Version      int64  `json:"version"`
}

// appointmentJSON returns the JSON of an appointment and sets the ETag of
// its version on w.
func appointmentJSON(w http.ResponseWriter, v application.AppointmentView) Appointment {
	setETag(w, v.Version)
	return Appointment{
		ID: v.ID.String(), SiteID: v.SiteID.String(), ContactID: v.ContactID.String(), StartsAt: domain.FormatInstant(v.StartsAt), EndsAt: domain.FormatInstant(v.EndsAt),
		Title: v.Title, State: v.State, CancelReason: v.CancelReason, Version: v.Version,
	}
}

// scheduleAppointment: POST /v1/sites/{site}/appointments.
func (s *Server) scheduleAppointment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	var req createAppointmentRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.ScheduleAppointment{
		SiteID: site, ID: c.optID("id", req.ID), ContactID: c.reqID("contactId", req.ContactID),
		Title: str(req.Title), StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IdempotencyKey: c.idempotencyKey(r),
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.ScheduleAppointment.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/appointments/"+v.ID.String())
	return http.StatusCreated, appointmentJSON(w, v), nil
}

// getAppointment: GET /v1/sites/{site}/appointments/{id}.
func (s *Server) getAppointment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetAppointment{SiteID: c.site(r), ID: c.path(r, "id")}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetAppointment.Handle(r.Context(), q)
	return http.StatusOK, appointmentJSON(w, v), err
}

// rescheduleAppointment: POST /v1/sites/{site}/appointments/{id}/reschedule.
func (s *Server) rescheduleAppointment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req rescheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.RescheduleAppointment{SiteID: site, ID: id,
		StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.RescheduleAppointment.Handle(r.Context(), cmd)
	return http.StatusOK, appointmentJSON(w, v), err
}

// cancelAppointment: POST /v1/sites/{site}/appointments/{id}/cancel, with
// an optional body {reason}.
func (s *Server) cancelAppointment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req cancelRequest
	if err := decodeBody(r, &req, true); err != nil {
		return 0, nil, err
	}
	cmd := application.CancelAppointment{SiteID: site, ID: id, Reason: str(req.Reason),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.CancelAppointment.Handle(r.Context(), cmd)
	return http.StatusOK, appointmentJSON(w, v), err
}

// completeAppointment: POST /v1/sites/{site}/appointments/{id}/complete.
func (s *Server) completeAppointment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ref, err := s.refNoBody(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.app.CompleteAppointment.Handle(r.Context(), application.CompleteAppointment{SiteID: ref.site, ID: ref.id,
		IfVersion: ref.ifVersion, IdempotencyKey: ref.key})
	return http.StatusOK, appointmentJSON(w, v), err
}

// markNoShow: POST /v1/sites/{site}/appointments/{id}/no-show.
func (s *Server) markNoShow(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ref, err := s.refNoBody(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.app.MarkNoShow.Handle(r.Context(), application.MarkNoShow{SiteID: ref.site, ID: ref.id,
		IfVersion: ref.ifVersion, IdempotencyKey: ref.key})
	return http.StatusOK, appointmentJSON(w, v), err
}

// commandRef is what a command without members takes from its request:
// the site and id path parameters, If-Match and Idempotency-Key.
type commandRef struct {
	site      domain.SiteID
	id        domain.ID
	ifVersion *int64
	key       string
}

// refNoBody checks the path parameters and headers of a command that takes
// no members: its body must be empty or {}.
func (s *Server) refNoBody(r *http.Request) (commandRef, error) {
	var c checker
	ref := commandRef{site: c.site(r), id: c.path(r, "id"), ifVersion: c.ifMatch(r), key: c.idempotencyKey(r)}
	var req emptyRequest
	if err := decodeBody(r, &req, true); err != nil {
		return commandRef{}, err
	}
	return ref, c.err()
}

// renameRequest is the body of POST .../rename.
type renameRequest struct {
	Title *string `json:"title"`
}

// renameAppointment: POST /v1/sites/{site}/appointments/{id}/rename.
func (s *Server) renameAppointment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req renameRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	if req.Title == nil {
		c.add("title", "is required")
	}
	cmd := application.RenameAppointment{SiteID: site, ID: id, Title: str(req.Title),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.RenameAppointment.Handle(r.Context(), cmd)
	return http.StatusOK, appointmentJSON(w, v), err
}
