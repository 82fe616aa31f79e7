package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bookable/lifecycle/adapters/overlay"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// Course implements application.ReadTx: the transaction's staged course, or
// the snapshot's.
func (t *stageTx) Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if s, ok := t.courses[aggKey{siteID.String(), id.String()}]; ok {
		return course.Restore(s)
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.Course(ctx, siteID, id)
}

// CourseEnrollment implements application.ReadTx, as Course.
func (t *stageTx) CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if s, ok := t.courseEnrollments[aggKey{siteID.String(), id.String()}]; ok {
		return courseenrollment.Restore(s)
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.CourseEnrollment(ctx, siteID, id)
}

// CourseEnrollmentByKey implements application.ReadTx: a staged enrollment
// with the key, else the snapshot's (in its staged version, when the
// transaction saved it).
func (t *stageTx) CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, key string) (*courseenrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	for k, s := range t.courseEnrollments {
		if k.site == siteID.String() && s.LookupKey == key {
			return courseenrollment.Restore(s)
		}
	}
	return t.readTx.CourseEnrollmentByKey(ctx, siteID, key)
}

// ActiveCourseEnrollment implements application.ReadTx.
func (t *stageTx) ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	if len(t.courseEnrollments) == 0 {
		return t.readTx.ActiveCourseEnrollment(ctx, siteID, courseID, participantID)
	}
	all, err := t.ActiveCourseEnrollments(ctx, siteID, courseID)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.ParticipantID() == participantID {
			return e, nil
		}
	}
	return nil, notFound(sql.ErrNoRows, "active enrollment of participant "+participantID.String()+" in course", courseID.String())
}

// ActiveCourseEnrollments implements application.ReadTx: the snapshot's
// active enrollments of the course, replaced by their staged versions, plus
// the staged ones the snapshot lacks, by position.
func (t *stageTx) ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	stored, err := t.readTx.ActiveCourseEnrollments(ctx, siteID, courseID)
	if err != nil || len(t.courseEnrollments) == 0 {
		return stored, err
	}
	return overlay.Merge(stored, t.courseEnrollments, func(id domain.ID) aggKey { return aggKey{siteID.String(), id.String()} },
		func(k aggKey, s courseenrollment.Snapshot) bool {
			return k.site == siteID.String() && s.CourseID == courseID.String() && s.Active()
		},
		courseenrollment.Restore, func(a, b *courseenrollment.Enrollment) bool { return a.Position() < b.Position() })
}

// Series implements application.ReadTx, as Course.
func (t *stageTx) Series(ctx context.Context, siteID domain.SiteID, id domain.ID) (*series.Series, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if s, ok := t.series[aggKey{siteID.String(), id.String()}]; ok {
		return series.Restore(s)
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.Series(ctx, siteID, id)
}

// SiteSettings implements application.ReadTx, as Course.
func (t *stageTx) SiteSettings(ctx context.Context, siteID domain.SiteID) (*site.Settings, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	id := siteID.String()
	if s, ok := t.settings[aggKey{id, id}]; ok {
		return site.Restore(s)
	}
	if t.staged {
		if c, ok := t.db.settings.get(id); ok {
			t.checkSettings(id, c.version())
			if c.absent {
				return nil, notFound(sql.ErrNoRows, "settings of site", id)
			}
			return site.Restore(c.snap)
		}
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	s, err := t.readTx.SiteSettings(ctx, siteID)
	if t.staged {
		// The snapshot may be older than the writer's state too: checked
		// the same way.
		c, read := cachedSettings{absent: true}, false
		switch {
		case err == nil:
			c, read = cachedSettings{snap: s.Snapshot()}, true
		case errors.Is(err, application.ErrNotFound):
			read = true
		}
		if read {
			t.db.settings.put(id, c)
			t.checkSettings(id, c.version())
		}
	}
	return s, err
}

// checkSettings records that the function read the settings of site at
// version (0: none), from the cache or its snapshot, once per site.
func (t *stageTx) checkSettings(siteID string, version int64) {
	for _, k := range t.checks {
		if k.siteID == siteID {
			return
		}
	}
	t.checks = append(t.checks, settingsCheck{siteID: siteID, version: version, cache: t.db.settings})
}

// CourseEnrollmentsAfter implements application.Pages on the snapshot, as
// AppointmentsAfter.
func (t *stageTx) CourseEnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*courseenrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.CourseEnrollmentsAfter(ctx, siteID, after, limit)
}

// stage records a save of an aggregate whose snapshot is s into the staged
// map m (at its written version) and its write op, or returns a conflict
// when the transaction saved it before at another version, as
// SaveAppointment does. version points into a snapshot's Version.
func stage[S any](t *stageTx, m *map[aggKey]S, k aggKey, s S, version func(*S) *int64, what string,
	agg interface{ SetVersion(int64) }, op writeOp) error {
	v := *version(&s)
	if prev, ok := (*m)[k]; ok && *version(&prev) != v {
		return saved(errStale, what, k.id, v)
	}
	if *m == nil {
		*m = map[aggKey]S{}
	}
	written := s
	*version(&written) = v + 1
	(*m)[k] = written
	t.record(agg, v, op)
	return nil
}

// SaveCourse implements application.Tx, as SaveAppointment.
func (t *stageTx) SaveCourse(ctx context.Context, c *course.Course) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := c.Snapshot()
	return stage(t, &t.courses, aggKey{s.SiteID, s.ID}, s, func(s *course.Snapshot) *int64 { return &s.Version },
		"course", c, courseWrite(s))
}

// SaveCourseEnrollment implements application.Tx, as SaveEnrollment: a
// second active enrollment of the same participant in the same course
// violates a unique index when applied and is ErrConflict.
func (t *stageTx) SaveCourseEnrollment(ctx context.Context, e *courseenrollment.Enrollment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := e.Snapshot()
	return stage(t, &t.courseEnrollments, aggKey{s.SiteID, s.ID}, s,
		func(s *courseenrollment.Snapshot) *int64 { return &s.Version }, "course enrollment", e, courseEnrollmentWrite(s))
}

// SaveSeries implements application.Tx, as SaveAppointment.
func (t *stageTx) SaveSeries(ctx context.Context, x *series.Series) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := x.Snapshot()
	return stage(t, &t.series, aggKey{s.SiteID, s.ID}, s, func(s *series.Snapshot) *int64 { return &s.Version },
		"series", x, seriesWrite(s))
}

// SaveSiteSettings implements application.Tx, as SaveAppointment.
func (t *stageTx) SaveSiteSettings(ctx context.Context, x *site.Settings) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := x.Snapshot()
	return stage(t, &t.settings, aggKey{s.SiteID, s.SiteID}, s, func(s *site.Snapshot) *int64 { return &s.Version },
		"settings of site", x, settingsWrite{snap: s, cache: t.db.settings})
}

// The statements of the writes.
const (
	qInsertCourse = `INSERT INTO courses (` + courseCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	qUpdateCourse = `UPDATE courses SET title = ?, capacity = ?, enrolled = ?, admissions = ?, state = ?, cancel_reason = ?,
		scheduled_at = ?, changed_at = ?, sessions = ?, version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`
	qInsertCourseEnrollment = `INSERT INTO course_enrollments (` + courseEnrollmentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	qUpdateCourseEnrollment = `UPDATE course_enrollments SET course_id = ?, participant_id = ?, lookup_key = ?, position = ?,
		enrolled_at = ?, ended_at = ?, state = ?, version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`
	qInsertSeries = `INSERT INTO series (` + seriesCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	qUpdateSeries = `UPDATE series SET contact_id = ?, title = ?, first_start_at = ?, length_ms = ?, every = ?, count = ?,
		time_zone = ?, cut_from = ?, state = ?, cancel_reason = ?, scheduled_at = ?, changed_at = ?, version = version + 1
		WHERE site_id = ? AND id = ? AND version = ?`
	qInsertSiteSettings = `INSERT INTO site_settings (site_id, time_zone, changed_at, version) VALUES (?, ?, ?, 1)`
	qUpdateSiteSettings = `UPDATE site_settings SET time_zone = ?, changed_at = ?, version = version + 1
		WHERE site_id = ? AND version = ?`
)

// courseWrite inserts (version 0) or updates a course.
type courseWrite course.Snapshot

func (w courseWrite) apply(c *writeConn) error {
	s := course.Snapshot(w)
	sessions, err := encodeSessions(s.Sessions)
	if err != nil {
		return saved(err, "course", s.ID, s.Version)
	}
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertCourse, s.SiteID, s.ID, s.Title, s.Capacity, s.Enrolled,
			s.Admissions, s.State, s.CancelReason, toMS(s.ScheduledAt), toMS(s.ChangedAt), sessions)
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateCourse, s.Title, s.Capacity, s.Enrolled, s.Admissions,
			s.State, s.CancelReason, toMS(s.ScheduledAt), toMS(s.ChangedAt), sessions, s.SiteID, s.ID, s.Version))
	}
	return saved(err, "course", s.ID, s.Version)
}

// courseEnrollmentWrite inserts (version 0) or updates a course enrollment.
type courseEnrollmentWrite courseenrollment.Snapshot

func (w courseEnrollmentWrite) apply(c *writeConn) error {
	s := courseenrollment.Snapshot(w)
	var err error
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertCourseEnrollment, s.SiteID, s.ID, s.CourseID, s.ParticipantID,
			s.LookupKey, s.Position, toMS(s.EnrolledAt), toMS(s.EndedAt), s.State)
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateCourseEnrollment, s.CourseID, s.ParticipantID, s.LookupKey,
			s.Position, toMS(s.EnrolledAt), toMS(s.EndedAt), s.State, s.SiteID, s.ID, s.Version))
	}
	return saved(err, "course enrollment", s.ID, s.Version)
}

// seriesWrite inserts (version 0) or updates a series.
type seriesWrite series.Snapshot

func (w seriesWrite) apply(c *writeConn) error {
	s := series.Snapshot(w)
	length := s.Length.Milliseconds()
	var err error
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertSeries, s.SiteID, s.ID, s.ContactID, s.Title, toMS(s.FirstStart),
			length, s.Every, s.Count, s.TimeZone, s.CutFrom, s.State, s.CancelReason, toMS(s.ScheduledAt), toMS(s.ChangedAt))
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateSeries, s.ContactID, s.Title, toMS(s.FirstStart), length,
			s.Every, s.Count, s.TimeZone, s.CutFrom, s.State, s.CancelReason, toMS(s.ScheduledAt), toMS(s.ChangedAt),
			s.SiteID, s.ID, s.Version))
	}
	return saved(err, "series", s.ID, s.Version)
}

// settingsWrite inserts (version 0) or updates a site's settings, which
// then leave the cache.
type settingsWrite struct {
	snap  site.Snapshot
	cache *settingsCache
}

func (w settingsWrite) apply(c *writeConn) error {
	s := w.snap
	w.cache.forget(s.SiteID)
	var err error
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertSiteSettings, s.SiteID, s.TimeZone, toMS(s.ChangedAt))
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateSiteSettings, s.TimeZone, toMS(s.ChangedAt), s.SiteID, s.Version))
	}
	return saved(err, "settings of site", s.SiteID, s.Version)
}
