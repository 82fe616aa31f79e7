package application

import (
	"context"
	"fmt"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// coursePage is how many course enrollments reconcile reads in one page:
// each has an entity per session of its course (up to course.MaxSessions),
// so a page holds at most coursePage * (1 + course.MaxSessions) entities.
const coursePage = 20

// courseEnrollments walks a site's course enrollments: each is one subject
// for its own events and one per session of its course, every session
// (canceled ones too), so that whatever was ever reported for a seat is
// compared. A repair touches the enrollment and its course, once each: a
// command that changes a session saves the course, not the enrollments, so
// the course's version is where the two meet.
func (h ReconcileHandler) courseEnrollments(ctx context.Context, tx ReadTx, z domain.TimeZone, site domain.SiteID, after domain.ID) ([]subject, domain.ID, bool, error) {
	page, err := tx.CourseEnrollmentsAfter(ctx, site, after, coursePage)
	if err != nil || len(page) == 0 {
		return nil, domain.ID{}, false, err
	}
	courses := map[domain.ID]*course.Course{}
	touched := map[domain.ID]bool{}
	once := func(id domain.ID, save func() error) error {
		if touched[id] {
			return nil
		}
		touched[id] = true
		return save()
	}
	var out []subject
	for _, e := range page {
		c, ok := courses[e.CourseID()]
		if !ok {
			if c, err = tx.Course(ctx, site, e.CourseID()); err != nil {
				return nil, domain.ID{}, false, fmt.Errorf("course of enrollment %s: %w", e.ID(), err)
			}
			courses[e.CourseID()] = c
		}
		both := func(ctx context.Context, tx Tx) error {
			if err := once(e.ID(), func() error { return tx.SaveCourseEnrollment(ctx, e) }); err != nil {
				return err
			}
			return once(c.ID(), func() error { return tx.SaveCourse(ctx, c) })
		}
		byEntity := map[string][]Live{}
		for _, l := range DesiredCourseEnrollment(h.r.policy.catalog, z, e, c) {
			byEntity[l.EntityID] = append(byEntity[l.EntityID], l)
		}
		// Every entity is compared, also one that calls for nothing now:
		// what was reported for it is canceled.
		out = append(out, subject{kind: "course enrollment", id: e.ID().String(), desired: byEntity[e.ID().String()], touch: both})
		for _, s := range c.Sessions() {
			id := courseenrollment.SessionEntityID(e.ID(), s.Number()).String()
			out = append(out, subject{kind: "enrollment session", id: id, desired: byEntity[id], touch: both})
		}
	}
	return out, page[len(page)-1].ID(), len(page) == coursePage, nil
}
