package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// activeCourseEnrollment is the condition of an active course enrollment,
// built from the domain's definition (courseenrollment.ActiveStates), and
// the WHERE of the partial indexes course_enrollments_one_active and
// course_enrollments_active_by_position (TestIndexConditionsFollowTheDomain).
var activeCourseEnrollment = "state IN (" + sqlStrings(courseenrollment.ActiveStates()) + ")"

// The reads of courses, course enrollments, series and site settings
// (migrations 0009 to 0011).
var (
	qCourse                 = `SELECT ` + courseCols + ` FROM courses WHERE site_id = ? AND id = ?`
	qCourseEnrollment       = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments WHERE site_id = ? AND id = ?`
	qCourseEnrollmentByKey  = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments WHERE site_id = ? AND lookup_key = ?`
	qActiveCourseEnrollment = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments
		WHERE site_id = ? AND course_id = ? AND participant_id = ? AND ` + activeCourseEnrollment
	qActiveCourseEnrollments = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments
		WHERE site_id = ? AND course_id = ? AND ` + activeCourseEnrollment + ` ORDER BY position`
	qSeries                 = `SELECT ` + seriesCols + ` FROM series WHERE site_id = ? AND id = ?`
	qSiteSettings           = `SELECT site_id, time_zone, changed_at, version FROM site_settings WHERE site_id = ?`
	qCourseEnrollmentsAfter = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments
		WHERE site_id = ? AND id > ? ORDER BY id LIMIT ?`
)

// courseReads are the reads above that Update's snapshots prepare.
var courseReads = []string{qCourse, qCourseEnrollment, qCourseEnrollmentByKey, qActiveCourseEnrollment,
	qActiveCourseEnrollments, qSeries, qSiteSettings}

const courseCols = `site_id, id, title, capacity, enrolled, admissions, state, cancel_reason, scheduled_at, changed_at,
	sessions, version`

// sessionRow is the stored form of a session in courses.sessions.
type sessionRow struct {
	ID            string `json:"id"`
	Number        int    `json:"number"`
	State         string `json:"state"`
	Start         int64  `json:"start"`
	End           int64  `json:"end"`
	AddedAt       int64  `json:"addedAt"`
	PreviousStart int64  `json:"previousStart,omitempty"`
	RescheduledAt int64  `json:"rescheduledAt,omitempty"`
	CanceledAt    int64  `json:"canceledAt,omitempty"`
	CancelReason  string `json:"cancelReason,omitempty"`
}

// encodeSessions writes a course's sessions as courses.sessions holds them.
func encodeSessions(ss []course.SessionSnapshot) (string, error) {
	rows := make([]sessionRow, len(ss))
	for i, s := range ss {
		rows[i] = sessionRow{ID: s.ID, Number: s.Number, State: s.State, Start: toMS(s.Start), End: toMS(s.End),
			AddedAt: toMS(s.AddedAt), PreviousStart: toMS(s.PreviousStart), RescheduledAt: toMS(s.RescheduledAt),
			CanceledAt: toMS(s.CanceledAt), CancelReason: s.CancelReason}
	}
	b, err := json.Marshal(rows)
	return string(b), err
}

func decodeSessions(text string) ([]course.SessionSnapshot, error) {
	var rows []sessionRow
	if err := json.Unmarshal([]byte(text), &rows); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	out := make([]course.SessionSnapshot, len(rows))
	for i, r := range rows {
		out[i] = course.SessionSnapshot{ID: r.ID, Number: r.Number, State: r.State, Start: fromMS(r.Start), End: fromMS(r.End),
			AddedAt: fromMS(r.AddedAt), PreviousStart: fromMS(r.PreviousStart), RescheduledAt: fromMS(r.RescheduledAt),
			CanceledAt: fromMS(r.CanceledAt), CancelReason: r.CancelReason}
	}
	return out, nil
}

func scanCourse(row interface{ Scan(...any) error }) (*course.Course, error) {
	var s course.Snapshot
	var scheduled, changed int64
	var sessions string
	if err := row.Scan(&s.SiteID, &s.ID, &s.Title, &s.Capacity, &s.Enrolled, &s.Admissions, &s.State, &s.CancelReason,
		&scheduled, &changed, &sessions, &s.Version); err != nil {
		return nil, err
	}
	s.ScheduledAt, s.ChangedAt = fromMS(scheduled), fromMS(changed)
	var err error
	if s.Sessions, err = decodeSessions(sessions); err != nil {
		return nil, err
	}
	return course.Restore(s)
}

const courseEnrollmentCols = `site_id, id, course_id, participant_id, lookup_key, position, enrolled_at, ended_at, state, version`

func scanCourseEnrollment(row interface{ Scan(...any) error }) (*courseenrollment.Enrollment, error) {
	var s courseenrollment.Snapshot
	var enrolled, ended int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.CourseID, &s.ParticipantID, &s.LookupKey, &s.Position, &enrolled, &ended,
		&s.State, &s.Version); err != nil {
		return nil, err
	}
	s.EnrolledAt, s.EndedAt = fromMS(enrolled), fromMS(ended)
	return courseenrollment.Restore(s)
}

const seriesCols = `site_id, id, contact_id, title, first_start_at, length_ms, every, count, time_zone, cut_from, state,
	cancel_reason, scheduled_at, changed_at, version`

func scanSeries(row interface{ Scan(...any) error }) (*series.Series, error) {
	var s series.Snapshot
	var first, length, scheduled, changed int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.ContactID, &s.Title, &first, &length, &s.Every, &s.Count, &s.TimeZone,
		&s.CutFrom, &s.State, &s.CancelReason, &scheduled, &changed, &s.Version); err != nil {
		return nil, err
	}
	s.FirstStart, s.Length = fromMS(first), time.Duration(length)*time.Millisecond
	s.ScheduledAt, s.ChangedAt = fromMS(scheduled), fromMS(changed)
	return series.Restore(s)
}

// Course implements application.ReadTx.
func (t *readTx) Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	c, err := scanCourse(t.q.QueryRowContext(ctx, qCourse, siteID.String(), id.String()))
	return c, notFound(err, "course", id.String())
}

// CourseEnrollment implements application.ReadTx.
func (t *readTx) CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanCourseEnrollment(t.q.QueryRowContext(ctx, qCourseEnrollment, siteID.String(), id.String()))
	return e, notFound(err, "course enrollment", id.String())
}

// CourseEnrollmentByKey implements application.ReadTx.
func (t *readTx) CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, key string) (*courseenrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanCourseEnrollment(t.q.QueryRowContext(ctx, qCourseEnrollmentByKey, siteID.String(), key))
	return e, notFound(err, "course enrollment with key", key)
}

// ActiveCourseEnrollment implements application.ReadTx.
func (t *readTx) ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanCourseEnrollment(t.q.QueryRowContext(ctx, qActiveCourseEnrollment, siteID.String(), courseID.String(), participantID.String()))
	return e, notFound(err, "active enrollment of participant "+participantID.String()+" in course", courseID.String())
}

// ActiveCourseEnrollments implements application.ReadTx.
func (t *readTx) ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	out := []*courseenrollment.Enrollment{}
	err := rowsOf(t.q.QueryContext(ctx, qActiveCourseEnrollments, siteID.String(), courseID.String()))(func(r *sql.Rows) error {
		e, err := scanCourseEnrollment(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: active enrollments of course %s: %w", courseID, err)
	}
	return out, nil
}

// Series implements application.ReadTx.
func (t *readTx) Series(ctx context.Context, siteID domain.SiteID, id domain.ID) (*series.Series, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	s, err := scanSeries(t.q.QueryRowContext(ctx, qSeries, siteID.String(), id.String()))
	return s, notFound(err, "series", id.String())
}

// SiteSettings implements application.ReadTx.
func (t *readTx) SiteSettings(ctx context.Context, siteID domain.SiteID) (*site.Settings, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	var s site.Snapshot
	var changed int64
	err := t.q.QueryRowContext(ctx, qSiteSettings, siteID.String()).Scan(&s.SiteID, &s.TimeZone, &changed, &s.Version)
	if err != nil {
		return nil, notFound(err, "settings of site", siteID.String())
	}
	s.ChangedAt = fromMS(changed)
	return site.Restore(s)
}

// CourseEnrollmentsAfter implements application.Pages.
func (t *readTx) CourseEnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*courseenrollment.Enrollment, error) {
	out := []*courseenrollment.Enrollment{}
	err := t.each(ctx, qCourseEnrollmentsAfter, []any{siteID.String(), after.String(), limit}, func(r *sql.Rows) error {
		e, err := scanCourseEnrollment(r)
		out = append(out, e)
		return err
	})
	return out, err
}

// rowsOf turns a query's result into a function that calls fn for each row
// and closes the rows.
func rowsOf(rows *sql.Rows, err error) func(fn func(*sql.Rows) error) error {
	return func(fn func(*sql.Rows) error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}
