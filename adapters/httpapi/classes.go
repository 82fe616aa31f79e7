package httpapi

import (
	"net/http"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// Class is the JSON of a class. Enrolled counts seated participants,
// Waitlisted those waiting for a seat.
type Class struct {
	ID           string `json:"id"`
	SiteID       string `json:"siteId"`
	Title        string `json:"title"`
	StartsAt     string `json:"startsAt"`
	EndsAt       string `json:"endsAt"`
	Capacity     int    `json:"capacity"`
	Enrolled     int    `json:"enrolled"`
	Waitlist     bool   `json:"waitlist"`
	Waitlisted   int    `json:"waitlisted"`
	State        string `json:"state"` // scheduled, canceled or completed
	CancelReason string `json:"cancelReason,omitempty"`
	Version      int64  `json:"version"`
}

// classJSON returns the JSON of a class and sets the ETag of its version
// on w.
func classJSON(w http.ResponseWriter, v application.ClassView) Class {
	setETag(w, v.Version)
	return Class{
		ID: v.ID.String(), SiteID: v.SiteID.String(), Title: v.Title, StartsAt: domain.FormatInstant(v.StartsAt), EndsAt: domain.FormatInstant(v.EndsAt),
		Capacity: v.Capacity, Enrolled: v.Enrolled, Waitlist: v.Waitlist, Waitlisted: v.Waitlisted,
		State: v.State, CancelReason: v.CancelReason, Version: v.Version,
	}
}

// Enrollment is the JSON of an enrollment. Its ID is the externalEntityId
// of the participant's events at Wix.
type Enrollment struct {
	ID            string `json:"id"`
	SiteID        string `json:"siteId"`
	ClassID       string `json:"classId"`
	ParticipantID string `json:"participantId"`
	State         string `json:"state"` // enrolled, waitlisted, left, class_canceled or attended
	Version       int64  `json:"version"`
}

// enrollmentJSON returns the JSON of an enrollment and sets the ETag of its
// version on w.
func enrollmentJSON(w http.ResponseWriter, v application.EnrollmentView) Enrollment {
	setETag(w, v.Version)
	return Enrollment{ID: v.ID.String(), SiteID: v.SiteID.String(), ClassID: v.ClassID.String(), ParticipantID: v.ParticipantID.String(), State: v.State,
		Version: v.Version}
}

// scheduleClass: POST /v1/sites/{site}/classes.
func (s *Server) scheduleClass(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	var req createClassRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.ScheduleClass{SiteID: site, ID: c.optID("id", req.ID)}
	if cmd.Title = str(req.Title); cmd.Title == "" {
		c.add("title", "is required")
	}
	cmd.StartsAt, cmd.EndsAt = c.reqTime("startsAt", req.StartsAt), c.reqTime("endsAt", req.EndsAt)
	if req.Capacity == nil {
		c.add("capacity", "is required")
	} else {
		cmd.Capacity = *req.Capacity
	}
	cmd.Waitlist = req.Waitlist != nil && *req.Waitlist
	cmd.IdempotencyKey = c.idempotencyKey(r)
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.ScheduleClass.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/classes/"+v.ID.String())
	return http.StatusCreated, classJSON(w, v), nil
}

// getClass: GET /v1/sites/{site}/classes/{id}.
func (s *Server) getClass(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetClass{SiteID: c.site(r), ID: c.path(r, "id")}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetClass.Handle(r.Context(), q)
	return http.StatusOK, classJSON(w, v), err
}

// rescheduleClass: POST /v1/sites/{site}/classes/{id}/reschedule.
func (s *Server) rescheduleClass(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req rescheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.RescheduleClass{SiteID: site, ID: id,
		StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.RescheduleClass.Handle(r.Context(), cmd)
	return http.StatusOK, classJSON(w, v), err
}

// cancelClass: POST /v1/sites/{site}/classes/{id}/cancel, with an optional
// body {reason}.
func (s *Server) cancelClass(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req cancelRequest
	if err := decodeBody(r, &req, true); err != nil {
		return 0, nil, err
	}
	cmd := application.CancelClass{SiteID: site, ID: id, Reason: str(req.Reason),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.CancelClass.Handle(r.Context(), cmd)
	return http.StatusOK, classJSON(w, v), err
}

// completeClass: POST /v1/sites/{site}/classes/{id}/complete.
func (s *Server) completeClass(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ref, err := s.refNoBody(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.app.CompleteClass.Handle(r.Context(), application.CompleteClass{SiteID: ref.site, ID: ref.id,
		IfVersion: ref.ifVersion, IdempotencyKey: ref.key})
	return http.StatusOK, classJSON(w, v), err
}

// enroll: POST /v1/sites/{site}/classes/{id}/enrollments.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, class := c.site(r), c.path(r, "id")
	var req enrollRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.Enroll{SiteID: site, ClassID: class,
		EnrollmentID: c.optID("id", req.ID), ParticipantID: c.reqID("participantId", req.ParticipantID),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.Enroll.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/enrollments/"+v.ID.String())
	return http.StatusCreated, enrollmentJSON(w, v), nil
}

// getEnrollment: GET /v1/sites/{site}/enrollments/{id}.
func (s *Server) getEnrollment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetEnrollment{SiteID: c.site(r), ID: c.path(r, "id")}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetEnrollment.Handle(r.Context(), q)
	return http.StatusOK, enrollmentJSON(w, v), err
}

// leave: POST /v1/sites/{site}/enrollments/{id}/leave.
func (s *Server) leave(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ref, err := s.refNoBody(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.app.Leave.Handle(r.Context(), application.Leave{SiteID: ref.site, EnrollmentID: ref.id,
		IfVersion: ref.ifVersion, IdempotencyKey: ref.key})
	return http.StatusOK, enrollmentJSON(w, v), err
}
