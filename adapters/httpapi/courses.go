package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// courseRoutes registers the routes of courses, their sessions and
// enrollments, series and site settings (issue 16).
func (s *Server) courseRoutes(site string, handle func(pattern string, h http.Handler)) {
	handle("GET "+site+"/settings", s.query(s.getSiteSettings))
	handle("PUT "+site+"/settings", s.command("set_time_zone", s.setSiteSettings))

	handle("POST "+site+"/courses", s.command("schedule_course", s.scheduleCourse))
	handle("GET "+site+"/courses/{id}", s.query(s.getCourse))
	handle("POST "+site+"/courses/{id}/sessions", s.command("add_course_session", s.addCourseSession))
	handle("POST "+site+"/courses/{id}/sessions/{sessionId}/reschedule", s.command("reschedule_course_session", s.rescheduleCourseSession))
	handle("POST "+site+"/courses/{id}/sessions/{sessionId}/cancel", s.command("cancel_course_session", s.cancelCourseSession))
	handle("POST "+site+"/courses/{id}/cancel", s.command("cancel_course", s.cancelCourse))
	handle("POST "+site+"/courses/{id}/complete", s.command("complete_course", s.completeCourse))
	handle("POST "+site+"/courses/{id}/enrollments", s.command("enroll_in_course", s.enrollInCourse))
	handle("GET "+site+"/course-enrollments/{id}", s.query(s.getCourseEnrollment))
	handle("POST "+site+"/course-enrollments/{id}/leave", s.command("leave_course", s.leaveCourse))

	handle("POST "+site+"/series", s.command("schedule_series", s.scheduleSeries))
	handle("GET "+site+"/series/{id}", s.query(s.getSeries))
	handle("POST "+site+"/series/{id}/cancel", s.command("cancel_series", s.cancelSeries))
	handle("POST "+site+"/series/{id}/occurrences/{number}/reschedule", s.command("reschedule_occurrence", s.rescheduleOccurrence))
}

// Course is the JSON of a course, with its sessions.
type Course struct {
	ID           string    `json:"id"`
	SiteID       string    `json:"siteId"`
	Title        string    `json:"title"`
	Capacity     int       `json:"capacity"`
	Enrolled     int       `json:"enrolled"`
	State        string    `json:"state"` // scheduled, canceled or completed
	CancelReason string    `json:"cancelReason,omitempty"`
	Sessions     []Session `json:"sessions"`
	Version      int64     `json:"version"`
}

// Session is the JSON of one session of a course.
type Session struct {
	ID           string `json:"id"`
	Number       int    `json:"number"` // 1, 2, 3 ... in the order sessions were added
	StartsAt     string `json:"startsAt"`
	EndsAt       string `json:"endsAt"`
	State        string `json:"state"` // scheduled or canceled
	CancelReason string `json:"cancelReason,omitempty"`
}

// courseJSON returns the JSON of a course and sets the ETag of its version.
func courseJSON(w http.ResponseWriter, v application.CourseView) Course {
	setETag(w, v.Version)
	c := Course{ID: v.ID.String(), SiteID: v.SiteID.String(), Title: v.Title, Capacity: v.Capacity, Enrolled: v.Enrolled, State: v.State,
		CancelReason: v.CancelReason, Version: v.Version, Sessions: []Session{}}
	for _, s := range v.Sessions {
		c.Sessions = append(c.Sessions, Session{ID: s.ID.String(), Number: s.Number, StartsAt: domain.FormatInstant(s.StartsAt),
			EndsAt: domain.FormatInstant(s.EndsAt), State: s.State, CancelReason: s.CancelReason})
	}
	return c
}

// CourseEnrollment is the JSON of an enrollment in a course. Its ID is the
// externalEntityId of the participant's course-wide events; each session's
// reminder has an ID derived from it and the session's number.
type CourseEnrollment struct {
	ID            string `json:"id"`
	SiteID        string `json:"siteId"`
	CourseID      string `json:"courseId"`
	ParticipantID string `json:"participantId"`
	State         string `json:"state"` // enrolled, left, course_canceled or completed
	Version       int64  `json:"version"`
}

func courseEnrollmentJSON(w http.ResponseWriter, v application.CourseEnrollmentView) CourseEnrollment {
	setETag(w, v.Version)
	return CourseEnrollment{ID: v.ID.String(), SiteID: v.SiteID.String(), CourseID: v.CourseID.String(), ParticipantID: v.ParticipantID.String(), State: v.State,
		Version: v.Version}
}

// Request bodies of courses.
type (
	createCourseRequest struct {
		ID       *string           `json:"id"`
		Title    *string           `json:"title"`
		Capacity *int              `json:"capacity"`
		Sessions []json.RawMessage `json:"sessions"`
	}
	sessionRequest struct {
		ID       *string `json:"id"`
		StartsAt *string `json:"startsAt"`
		EndsAt   *string `json:"endsAt"`
	}
)

// session checks one session object of a request; prefix names it in
// field errors ("sessions[0].").
func (c *checker) session(prefix string, raw json.RawMessage) application.NewCourseSession {
	var req sessionRequest
	if err := checkMembers(raw, jsonNames(reflect.TypeOf(req))); err != nil {
		c.nested(prefix, err)
		return application.NewCourseSession{}
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		c.nested(prefix, decodeError(err))
		return application.NewCourseSession{}
	}
	return application.NewCourseSession{ID: c.optID(prefix+"id", req.ID),
		StartsAt: c.reqTime(prefix+"startsAt", req.StartsAt), EndsAt: c.reqTime(prefix+"endsAt", req.EndsAt)}
}

// nested adds the field errors of a nested object's refusal, prefixed.
func (c *checker) nested(prefix string, err error) {
	if ie, ok := err.(*invalidError); ok && len(ie.fields) > 0 {
		for _, f := range ie.fields {
			c.add(prefix+f.Field, f.Reason)
		}
		return
	}
	c.add(prefix[:len(prefix)-1], "must be a JSON object")
}

// scheduleCourse: POST /v1/sites/{site}/courses.
func (s *Server) scheduleCourse(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	var req createCourseRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.ScheduleCourse{SiteID: site, ID: c.optID("id", req.ID)}
	if cmd.Title = str(req.Title); cmd.Title == "" {
		c.add("title", "is required")
	}
	if req.Capacity == nil {
		c.add("capacity", "is required")
	} else {
		cmd.Capacity = *req.Capacity
	}
	for i, raw := range req.Sessions {
		cmd.Sessions = append(cmd.Sessions, c.session(fmt.Sprintf("sessions[%d].", i), raw))
	}
	cmd.IdempotencyKey = c.idempotencyKey(r)
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.ScheduleCourse.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/courses/"+v.ID.String())
	return http.StatusCreated, courseJSON(w, v), nil
}

// getCourse: GET /v1/sites/{site}/courses/{id}.
func (s *Server) getCourse(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetCourse{SiteID: c.site(r), ID: c.path(r, "id")}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetCourse.Handle(r.Context(), q)
	return http.StatusOK, courseJSON(w, v), err
}

// addCourseSession: POST /v1/sites/{site}/courses/{id}/sessions.
func (s *Server) addCourseSession(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req sessionRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.AddCourseSession{SiteID: site, CourseID: id, SessionID: c.optID("id", req.ID),
		StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.AddCourseSession.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/courses/"+v.ID.String())
	return http.StatusCreated, courseJSON(w, v), nil
}

// rescheduleCourseSession: POST .../courses/{id}/sessions/{sessionId}/reschedule.
func (s *Server) rescheduleCourseSession(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id, session := c.site(r), c.path(r, "id"), c.path(r, "sessionId")
	var req rescheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.RescheduleCourseSession{SiteID: site, CourseID: id, SessionID: session,
		StartsAt: c.reqTime("startsAt", req.StartsAt), EndsAt: c.reqTime("endsAt", req.EndsAt),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.RescheduleCourseSession.Handle(r.Context(), cmd)
	return http.StatusOK, courseJSON(w, v), err
}

// cancelCourseSession: POST .../courses/{id}/sessions/{sessionId}/cancel,
// with an optional body {reason}.
func (s *Server) cancelCourseSession(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id, session := c.site(r), c.path(r, "id"), c.path(r, "sessionId")
	var req cancelRequest
	if err := decodeBody(r, &req, true); err != nil {
		return 0, nil, err
	}
	cmd := application.CancelCourseSession{SiteID: site, CourseID: id, SessionID: session, Reason: str(req.Reason),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.CancelCourseSession.Handle(r.Context(), cmd)
	return http.StatusOK, courseJSON(w, v), err
}

// cancelCourse: POST /v1/sites/{site}/courses/{id}/cancel, with an optional
// body {reason}.
func (s *Server) cancelCourse(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, id := c.site(r), c.path(r, "id")
	var req cancelRequest
	if err := decodeBody(r, &req, true); err != nil {
		return 0, nil, err
	}
	cmd := application.CancelCourse{SiteID: site, ID: id, Reason: str(req.Reason),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.CancelCourse.Handle(r.Context(), cmd)
	return http.StatusOK, courseJSON(w, v), err
}

// completeCourse: POST /v1/sites/{site}/courses/{id}/complete.
func (s *Server) completeCourse(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ref, err := s.refNoBody(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.app.CompleteCourse.Handle(r.Context(), application.CompleteCourse{SiteID: ref.site, ID: ref.id,
		IfVersion: ref.ifVersion, IdempotencyKey: ref.key})
	return http.StatusOK, courseJSON(w, v), err
}

// enrollInCourse: POST /v1/sites/{site}/courses/{id}/enrollments.
func (s *Server) enrollInCourse(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site, course := c.site(r), c.path(r, "id")
	var req enrollRequest
	if err := decodeBody(r, &req, false); err != nil {
		return 0, nil, err
	}
	cmd := application.EnrollInCourse{SiteID: site, CourseID: course,
		EnrollmentID: c.optID("id", req.ID), ParticipantID: c.reqID("participantId", req.ParticipantID),
		IfVersion: c.ifMatch(r), IdempotencyKey: c.idempotencyKey(r)}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.EnrollInCourse.Handle(r.Context(), cmd)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/v1/sites/"+v.SiteID.String()+"/course-enrollments/"+v.ID.String())
	return http.StatusCreated, courseEnrollmentJSON(w, v), nil
}

// getCourseEnrollment: GET /v1/sites/{site}/course-enrollments/{id}.
func (s *Server) getCourseEnrollment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	q := application.GetCourseEnrollment{SiteID: c.site(r), ID: c.path(r, "id")}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	v, err := s.app.GetCourseEnrollment.Handle(r.Context(), q)
	return http.StatusOK, courseEnrollmentJSON(w, v), err
}

// leaveCourse: POST /v1/sites/{site}/course-enrollments/{id}/leave.
func (s *Server) leaveCourse(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ref, err := s.refNoBody(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.app.LeaveCourse.Handle(r.Context(), application.LeaveCourse{SiteID: ref.site, EnrollmentID: ref.id,
		IfVersion: ref.ifVersion, IdempotencyKey: ref.key})
	return http.StatusOK, courseEnrollmentJSON(w, v), err
}
