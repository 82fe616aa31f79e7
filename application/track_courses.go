package application

import (
	"context"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

func (t *trackTx) courseEnrollment(e *courseenrollment.Enrollment, loaded bool) {
	if seen(t.courseEnrollments, e.ID(), e, loaded) {
		t.order = append(t.order, aggRef{kindCourseEnrollment, e.ID()})
	}
}

// Course implements ReadTx.
func (t *trackTx) Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error) {
	c, err := t.Tx.Course(ctx, siteID, id)
	if err == nil {
		seen(t.courses, c.ID(), c, true)
	}
	return c, err
}

// CourseEnrollment implements ReadTx.
func (t *trackTx) CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error) {
	e, err := t.Tx.CourseEnrollment(ctx, siteID, id)
	if err == nil {
		t.courseEnrollment(e, true)
	}
	return e, err
}

// CourseEnrollmentByKey implements ReadTx.
func (t *trackTx) CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, key string) (*courseenrollment.Enrollment, error) {
	e, err := t.Tx.CourseEnrollmentByKey(ctx, siteID, key)
	if err == nil {
		t.courseEnrollment(e, true)
	}
	return e, err
}

// ActiveCourseEnrollment implements ReadTx.
func (t *trackTx) ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error) {
	e, err := t.Tx.ActiveCourseEnrollment(ctx, siteID, courseID, participantID)
	if err == nil {
		t.courseEnrollment(e, true)
	}
	return e, err
}

// ActiveCourseEnrollments implements ReadTx. A command that changes a
// course's sessions loads them, so that their events are compared.
func (t *trackTx) ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error) {
	es, err := t.Tx.ActiveCourseEnrollments(ctx, siteID, courseID)
	for _, e := range es {
		t.courseEnrollment(e, true)
	}
	return es, err
}

// SaveCourse implements Tx.
func (t *trackTx) SaveCourse(ctx context.Context, c *course.Course) error {
	isNew := c.Version() == 0
	if err := t.Tx.SaveCourse(ctx, c); err != nil {
		return err
	}
	seen(t.courses, c.ID(), c, !isNew)
	return nil
}

// SaveCourseEnrollment implements Tx.
func (t *trackTx) SaveCourseEnrollment(ctx context.Context, e *courseenrollment.Enrollment) error {
	isNew := e.Version() == 0
	if err := t.Tx.SaveCourseEnrollment(ctx, e); err != nil {
		return err
	}
	t.courseEnrollment(e, !isNew)
	return nil
}

// courseChanges returns the changes of one course enrollment: one per
// entity it has events for (its own, then each session's by number), as
// the policy compares one entity's events at a time.
func (t *trackTx) courseChanges(ctx context.Context, c *Catalog, z domain.TimeZone, id domain.ID) ([]Change, error) {
	tr := t.courseEnrollments[id]
	e := tr.after
	ct, err := trackedOwner(ctx, t.courses, e.SiteID(), e.CourseID(), t.Tx.Course)
	if err != nil {
		return nil, err
	}
	after := DesiredCourseEnrollment(c, z, e, ct.after)
	var before []Live
	if tr.before != nil {
		old, err := courseenrollment.Restore(*tr.before)
		if err != nil {
			return nil, err
		}
		was, err := ct.was(course.Restore)
		if err != nil {
			return nil, err
		}
		before = DesiredCourseEnrollment(c, z, old, was)
	}
	return perEntity(before, after, cause(e.Events(), "course enrollment")), nil
}

// perEntity splits the events of one subject that has several entities (a
// course enrollment and its seats) into one change per entity, in the order
// the entities first appear (after, then before).
func perEntity(before, after []Live, cause string) []Change {
	var order []string
	byEntity := map[string]*Change{}
	get := func(entity string) *Change {
		ch, ok := byEntity[entity]
		if !ok {
			ch = &Change{Cause: cause}
			byEntity[entity] = ch
			order = append(order, entity)
		}
		return ch
	}
	for _, l := range after {
		ch := get(l.EntityID)
		ch.After = append(ch.After, l)
	}
	for _, l := range before {
		ch := get(l.EntityID)
		ch.Before = append(ch.Before, l)
	}
	out := make([]Change, len(order))
	for i, entity := range order {
		out[i] = *byEntity[entity]
	}
	return out
}
