package memory

import (
	"context"
	"fmt"
	"sort"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// staged returns one map of the write transaction's staged state, or nil
// for a read view.
func staged[T any](r *readTx, pick func(*state) map[key]T) map[key]T {
	if r.overlay == nil {
		return nil
	}
	return pick(r.overlay)
}

func coursesOf(s *state) map[key]course.Snapshot                     { return s.courses }
func courseEnrollmentsOf(s *state) map[key]courseenrollment.Snapshot { return s.courseEnrollments }
func seriesOf(s *state) map[key]series.Snapshot                      { return s.series }
func settingsOf(s *state) map[key]site.Snapshot                      { return s.settings }

// Course implements application.ReadTx.
func (r *readTx) Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error) {
	snap, ok := lookup(staged(r, coursesOf), r.s.data.courses, key{siteID.String(), id.String()})
	if !ok {
		return nil, fmt.Errorf("course %s: %w", id, application.ErrNotFound)
	}
	return course.Restore(snap)
}

// CourseEnrollment implements application.ReadTx.
func (r *readTx) CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error) {
	snap, ok := lookup(staged(r, courseEnrollmentsOf), r.s.data.courseEnrollments, key{siteID.String(), id.String()})
	if !ok {
		return nil, fmt.Errorf("course enrollment %s: %w", id, application.ErrNotFound)
	}
	return courseenrollment.Restore(snap)
}

// siteCourseEnrollments returns the merged course enrollments of a site that
// keep, by position.
func (r *readTx) siteCourseEnrollments(siteID string, keep func(courseenrollment.Snapshot) bool) []courseenrollment.Snapshot {
	merged := map[key]courseenrollment.Snapshot{}
	for _, m := range []map[key]courseenrollment.Snapshot{r.s.data.courseEnrollments, staged(r, courseEnrollmentsOf)} {
		for k, v := range m {
			if k.site == siteID {
				merged[k] = v
			}
		}
	}
	out := []courseenrollment.Snapshot{}
	for _, v := range merged {
		if keep(v) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Position < out[j].Position })
	return out
}

// CourseEnrollmentByKey implements application.ReadTx.
func (r *readTx) CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, lookupKey string) (*courseenrollment.Enrollment, error) {
	found := r.siteCourseEnrollments(siteID.String(), func(s courseenrollment.Snapshot) bool { return s.LookupKey == lookupKey })
	if len(found) == 0 {
		return nil, fmt.Errorf("course enrollment with key %s: %w", lookupKey, application.ErrNotFound)
	}
	return courseenrollment.Restore(found[0])
}

// ActiveCourseEnrollment implements application.ReadTx.
func (r *readTx) ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error) {
	found := r.siteCourseEnrollments(siteID.String(), func(s courseenrollment.Snapshot) bool {
		return s.CourseID == courseID.String() && s.ParticipantID == participantID.String() && s.Active()
	})
	if len(found) == 0 {
		return nil, fmt.Errorf("active enrollment of participant %s in course %s: %w", participantID, courseID, application.ErrNotFound)
	}
	return courseenrollment.Restore(found[0])
}

// ActiveCourseEnrollments implements application.ReadTx.
func (r *readTx) ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error) {
	out := []*courseenrollment.Enrollment{}
	for _, s := range r.siteCourseEnrollments(siteID.String(), func(s courseenrollment.Snapshot) bool { return s.CourseID == courseID.String() && s.Active() }) {
		e, err := courseenrollment.Restore(s)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Series implements application.ReadTx.
func (r *readTx) Series(ctx context.Context, siteID domain.SiteID, id domain.ID) (*series.Series, error) {
	snap, ok := lookup(staged(r, seriesOf), r.s.data.series, key{siteID.String(), id.String()})
	if !ok {
		return nil, fmt.Errorf("series %s: %w", id, application.ErrNotFound)
	}
	return series.Restore(snap)
}

// SiteSettings implements application.ReadTx.
func (r *readTx) SiteSettings(ctx context.Context, siteID domain.SiteID) (*site.Settings, error) {
	snap, ok := lookup(staged(r, settingsOf), r.s.data.settings, key{siteID.String(), siteID.String()})
	if !ok {
		return nil, fmt.Errorf("settings of site %s: %w", siteID, application.ErrNotFound)
	}
	return site.Restore(snap)
}

// CourseEnrollmentsAfter implements application.Pages.
func (r *readTx) CourseEnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*courseenrollment.Enrollment, error) {
	out := []*courseenrollment.Enrollment{}
	overlay := staged(r, courseEnrollmentsOf)
	for _, k := range page(overlay, r.s.data.courseEnrollments, siteID.String(), after.String(), limit) {
		snap, _ := lookup(overlay, r.s.data.courseEnrollments, k)
		e, err := courseenrollment.Restore(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// SaveCourse implements application.Tx.
func (t *tx) SaveCourse(ctx context.Context, c *course.Course) error {
	snap := c.Snapshot()
	k := key{snap.SiteID, snap.ID}
	if err := checkVersion(t.staged.courses, t.s.data.courses, k, snap.Version,
		func(s course.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save course: %w", err)
	}
	snap.Version++
	t.staged.courses[k] = snap
	c.SetVersion(snap.Version)
	return nil
}

// SaveCourseEnrollment implements application.Tx.
func (t *tx) SaveCourseEnrollment(ctx context.Context, e *courseenrollment.Enrollment) error {
	snap := e.Snapshot()
	k := key{snap.SiteID, snap.ID}
	if err := checkVersion(t.staged.courseEnrollments, t.s.data.courseEnrollments, k, snap.Version,
		func(s courseenrollment.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save course enrollment: %w", err)
	}
	if snap.Active() {
		others := t.siteCourseEnrollments(snap.SiteID, func(o courseenrollment.Snapshot) bool {
			return o.ID != snap.ID && o.CourseID == snap.CourseID && o.ParticipantID == snap.ParticipantID && o.Active()
		})
		if len(others) > 0 {
			return fmt.Errorf("save course enrollment: participant %s already active in course %s: %w",
				snap.ParticipantID, snap.CourseID, application.ErrConflict)
		}
	}
	snap.Version++
	t.staged.courseEnrollments[k] = snap
	e.SetVersion(snap.Version)
	return nil
}

// SaveSeries implements application.Tx.
func (t *tx) SaveSeries(ctx context.Context, s *series.Series) error {
	snap := s.Snapshot()
	k := key{snap.SiteID, snap.ID}
	if err := checkVersion(t.staged.series, t.s.data.series, k, snap.Version,
		func(s series.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save series: %w", err)
	}
	snap.Version++
	t.staged.series[k] = snap
	s.SetVersion(snap.Version)
	return nil
}

// SaveSiteSettings implements application.Tx.
func (t *tx) SaveSiteSettings(ctx context.Context, s *site.Settings) error {
	snap := s.Snapshot()
	k := key{snap.SiteID, snap.SiteID}
	if err := checkVersion(t.staged.settings, t.s.data.settings, k, snap.Version,
		func(s site.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save settings of site %s: %w", snap.SiteID, err)
	}
	snap.Version++
	t.staged.settings[k] = snap
	s.SetVersion(snap.Version)
	return nil
}
