package enrollment_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

var (
	now  = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	site = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
)

func id(n int) domain.ID  { return domain.MustID(fmt.Sprintf("e0000000-0000-4000-8000-%012d", n)) }
func pid(n int) domain.ID { return domain.MustID(fmt.Sprintf("9a000000-0000-4000-8000-%012d", n)) }

func newClass(t *testing.T, capacity int, waitlist bool) *class.Class {
	c, err := class.Schedule(class.New{ID: domain.MustID("c1a55000-0000-4000-8000-000000000001"), SiteID: site, Title: "Yoga",
		Start: now.Add(24 * time.Hour), End: now.Add(25 * time.Hour), Capacity: capacity, Waitlist: waitlist}, now)
	require.NoError(t, err)
	return c
}

func enroll(t *testing.T, c *class.Class, n int) *enrollment.Enrollment {
	e, err := enrollment.Enroll(c, enrollment.New{ID: id(n), SiteID: site, ParticipantID: pid(n)}, nil, now)
	require.NoError(t, err)
	return e
}

func TestEnrollSeatsThenWaitlistsThenRefuses(t *testing.T) {
	c := newClass(t, 1, true)
	first := enroll(t, c, 1)
	second := enroll(t, c, 2)
	assert.Equal(t, enrollment.StateEnrolled, first.State())
	assert.Equal(t, enrollment.StateWaitlisted, second.State())
	assert.IsType(t, enrollment.Enrolled{}, first.Events()[0])
	assert.IsType(t, enrollment.Waitlisted{}, second.Events()[0])
	assert.Equal(t, 1, c.Enrolled())
	assert.Equal(t, 1, c.Waitlisted())

	noWaitlist := newClass(t, 1, false)
	enroll(t, noWaitlist, 1)
	_, err := enrollment.Enroll(noWaitlist, enrollment.New{ID: id(2), SiteID: site, ParticipantID: pid(2)}, nil, now)
	var full *domain.ClassFullError
	require.True(t, errors.As(err, &full))
	assert.Equal(t, 1, full.Capacity)
	assert.Equal(t, 1, noWaitlist.Enrolled(), "a refused enrollment takes no seat")
}

func TestEnrollRefusesDuplicatesAndClosedClasses(t *testing.T) {
	c := newClass(t, 5, false)
	first := enroll(t, c, 1)
	_, err := enrollment.Enroll(c, enrollment.New{ID: id(2), SiteID: site, ParticipantID: pid(1)}, first, now)
	assert.ErrorIs(t, err, domain.ErrAlreadyEnrolled)

	_, err = enrollment.Enroll(c, enrollment.New{ID: id(3), SiteID: site, ParticipantID: pid(3)}, nil, now.Add(24*time.Hour))
	var notOpen *domain.ClassNotOpenError
	require.True(t, errors.As(err, &notOpen))
	assert.True(t, notOpen.Started)

	require.NoError(t, c.Cancel("", now))
	_, err = enrollment.Enroll(c, enrollment.New{ID: id(4), SiteID: site, ParticipantID: pid(4)}, nil, now)
	require.True(t, errors.As(err, &notOpen))
	assert.Equal(t, "canceled", notOpen.State)

	other := domain.MustSiteID("5e000000-0000-4000-8000-000000000002")
	_, err = enrollment.Enroll(newClass(t, 5, false), enrollment.New{ID: id(5), SiteID: other, ParticipantID: pid(5)}, nil, now)
	assert.ErrorIs(t, err, domain.ErrInvalid, "a class of another site")
}

func TestLeaveFreesASeatForTheWaitlist(t *testing.T) {
	c := newClass(t, 1, true)
	seated := enroll(t, c, 1)
	waiting := enroll(t, c, 2)
	freed, err := seated.Leave(c, now)
	require.NoError(t, err)
	assert.True(t, freed)
	require.NoError(t, waiting.Promote(c, now))
	assert.Equal(t, enrollment.StateEnrolled, waiting.State())
	assert.IsType(t, enrollment.Promoted{}, waiting.Events()[1])
	assert.Equal(t, 1, c.Enrolled())
	assert.Equal(t, 0, c.Waitlisted())

	_, err = seated.Leave(c, now)
	assert.ErrorIs(t, err, domain.ErrTransitionNotAllowed)
	assert.ErrorIs(t, waiting.Promote(c, now), domain.ErrTransitionNotAllowed, "only a waitlisted enrollment is promoted")
}

func TestClassCancelAndComplete(t *testing.T) {
	c := newClass(t, 1, true)
	seated := enroll(t, c, 1)
	waiting := enroll(t, c, 2)
	require.NoError(t, c.Cancel("storm", now))
	require.NoError(t, seated.ClassCanceled(c, "storm", now))
	require.NoError(t, waiting.ClassCanceled(c, "storm", now))
	ev := seated.Events()[1].(enrollment.ClassCanceled)
	assert.False(t, ev.WasWaitlisted)
	assert.Equal(t, "storm", ev.Reason)
	assert.True(t, waiting.Events()[1].(enrollment.ClassCanceled).WasWaitlisted)
	_, err := seated.Leave(c, now)
	assert.ErrorIs(t, err, domain.ErrTransitionNotAllowed, "no leaving a canceled class")

	c2 := newClass(t, 1, true)
	s2, w2 := enroll(t, c2, 1), enroll(t, c2, 2)
	assert.ErrorIs(t, c2.Complete(now), domain.ErrInvalid, "not before the start")
	require.NoError(t, c2.Complete(now.Add(25*time.Hour)))
	require.NoError(t, s2.ClassCompleted(c2, now))
	require.NoError(t, w2.ClassCompleted(c2, now))
	assert.Equal(t, enrollment.StateAttended, s2.State())
	assert.Equal(t, enrollment.StateLeft, w2.State())
}

func TestClassValidation(t *testing.T) {
	base := class.New{ID: domain.MustID("c1a55000-0000-4000-8000-000000000001"), SiteID: site, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), Capacity: 1}
	for name, edit := range map[string]func(n *class.New){
		"capacity": func(n *class.New) { n.Capacity = 0 },
		"startsAt": func(n *class.New) { n.Start = now.Add(-time.Hour) },
		"endsAt":   func(n *class.New) { n.End = n.Start },
		"siteId":   func(n *class.New) { n.SiteID = domain.SiteID{} },
		"id":       func(n *class.New) { n.ID = domain.ID{} },
	} {
		n := base
		edit(&n)
		_, err := class.Schedule(n, now)
		var ve *domain.ValidationError
		require.True(t, errors.As(err, &ve), name)
		assert.Equal(t, name, ve.Field)
	}
}

// TestClassCompleteIsOneEventFromEitherActiveState: the table has two
// class_complete rows (enrolled -> attended, waitlisted -> left), so a
// refusal names the same event whatever the state.
func TestClassCompleteIsOneEventFromEitherActiveState(t *testing.T) {
	c := newClass(t, 1, true)
	seated, waiting, gone := enroll(t, c, 1), enroll(t, c, 2), enroll(t, c, 3)
	_, err := gone.Leave(c, now)
	require.NoError(t, err)
	require.NoError(t, c.Complete(now.Add(25*time.Hour)))

	require.NoError(t, seated.ClassCompleted(c, now.Add(25*time.Hour)))
	require.NoError(t, waiting.ClassCompleted(c, now.Add(25*time.Hour)))
	assert.Equal(t, enrollment.StateAttended, seated.State())
	assert.Equal(t, enrollment.StateLeft, waiting.State())
	assert.IsType(t, enrollment.Attended{}, seated.Events()[1])
	assert.IsType(t, enrollment.WaitlistClosed{}, waiting.Events()[1])

	err = gone.ClassCompleted(c, now.Add(25*time.Hour))
	var tna *domain.TransitionNotAllowedError
	require.True(t, errors.As(err, &tna), "got %v", err)
	assert.Equal(t, domain.TransitionNotAllowedError{Aggregate: "enrollment", ID: id(3).String(), State: "left", Event: "class_complete"}, *tna)
	err = seated.ClassCompleted(c, now.Add(25*time.Hour))
	require.True(t, errors.As(err, &tna))
	assert.Equal(t, "class_complete", tna.Event)
	assert.Equal(t, "attended", tna.State)

	for _, tr := range enrollment.Transitions() {
		assert.NotContains(t, tr.Event, "waitlisted", "no made-up events in the table")
	}
}

func TestActiveIsDefinedOnce(t *testing.T) {
	assert.Equal(t, []enrollment.State{enrollment.StateEnrolled, enrollment.StateWaitlisted}, enrollment.ActiveStates())
	all := []enrollment.State{enrollment.StateEnrolled, enrollment.StateWaitlisted, enrollment.StateLeft,
		enrollment.StateClassCanceled, enrollment.StateAttended}
	for _, s := range all {
		assert.Equal(t, slices.Contains(enrollment.ActiveStates(), s), s.Active(), s.String())
		assert.Equal(t, s.Active(), enrollment.Snapshot{State: s.String()}.Active(), s.String())
	}
	assert.False(t, enrollment.Snapshot{State: "exploded"}.Active(), "an unknown state is not active")
	states := enrollment.ActiveStates()
	states[0] = enrollment.StateLeft
	assert.False(t, enrollment.StateLeft.Active(), "ActiveStates returns a copy")
}

// TestSeatedAtAndEndedAt: when an enrollment got its seat and when it left
// the active states, for each way in and out.
func TestSeatedAtAndEndedAt(t *testing.T) {
	later, end := now.Add(time.Hour+1500*time.Microsecond), now.Add(25*time.Hour)
	ms := now.Add(time.Hour + time.Millisecond) // later, as stores keep it

	c := newClass(t, 1, true)
	seated, promoted, waiting := enroll(t, c, 1), enroll(t, c, 2), enroll(t, c, 3)
	assert.Equal(t, now, seated.SeatedAt(), "seated when it enrolled")
	assert.Zero(t, promoted.SeatedAt(), "waitlisted: no seat yet")
	for _, e := range []*enrollment.Enrollment{seated, promoted, waiting} {
		assert.Zero(t, e.EndedAt(), "active")
		assert.Equal(t, now, e.EnrolledAt())
	}
	_, err := seated.Leave(c, later)
	require.NoError(t, err)
	require.NoError(t, promoted.Promote(c, later))
	assert.Equal(t, ms, seated.EndedAt(), "left")
	assert.Equal(t, now, seated.SeatedAt(), "leaving keeps when it was seated")
	assert.Equal(t, ms, promoted.SeatedAt(), "seated by promotion")
	assert.Zero(t, promoted.EndedAt())

	require.NoError(t, c.Complete(end))
	require.NoError(t, promoted.ClassCompleted(c, end))
	require.NoError(t, waiting.ClassCompleted(c, end))
	assert.Equal(t, end, promoted.EndedAt(), "attended")
	assert.Equal(t, end, waiting.EndedAt(), "waitlist closed")
	assert.Zero(t, waiting.SeatedAt(), "never seated")

	c2 := newClass(t, 1, true)
	s2, w2 := enroll(t, c2, 1), enroll(t, c2, 2)
	require.NoError(t, c2.Cancel("", later))
	require.NoError(t, s2.ClassCanceled(c2, "", later))
	require.NoError(t, w2.ClassCanceled(c2, "", later))
	assert.Equal(t, ms, s2.EndedAt(), "class canceled")
	assert.Equal(t, ms, w2.EndedAt(), "class canceled while waiting")
	assert.Error(t, s2.ClassCanceled(c2, "", end))
	assert.Equal(t, ms, s2.EndedAt(), "a refused command changes nothing")

	e, err := enrollment.Enroll(newClass(t, 1, false), enrollment.New{ID: id(9), SiteID: site, ParticipantID: pid(9)}, nil, later)
	require.NoError(t, err)
	assert.Equal(t, ms, e.EnrolledAt(), "UTC at the millisecond, as the SQLite store keeps it")
	assert.Equal(t, ms, e.SeatedAt())

	snap := s2.Snapshot()
	snap.SeatedAt, snap.EndedAt = time.Time{}, time.Time{}
	r, err := enrollment.Restore(snap)
	require.NoError(t, err, "rows stored before lifecycle kept the times have none")
	assert.Equal(t, snap, r.Snapshot())
}
