package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
	"github.com/bookable/lifecycle/domain/series"
)

// door is a state type of the tests' own, as an aggregate declares one.
type door struct{ name string }

var d1 = domain.MustID("d1000000-0000-4000-8000-000000000001")

func (d door) String() string { return d.name }

var (
	closed = door{"closed"}
	opened = door{"opened"}
	broken = door{"broken"}
)

func doorTable() *domain.Table[door] {
	return domain.MustTable("door", []door{closed, opened, broken}, []domain.Transition[door]{
		{Event: "open", From: []door{closed}, To: opened},
		{Event: "touch", From: []door{opened}, To: opened},
		{Event: "kick", From: []door{closed}, To: broken},
		{Event: "kick", From: []door{opened}, To: closed},
	})
}

func TestMachineFire(t *testing.T) {
	m := doorTable().Start(d1, closed)
	require.NoError(t, m.Fire("open"))
	assert.Equal(t, opened, m.State())
	require.NoError(t, m.Fire("touch"), "an intended self-transition is not an error")

	err := m.Fire("open")
	var tna *domain.TransitionNotAllowedError
	require.True(t, errors.As(err, &tna))
	assert.Equal(t, domain.TransitionNotAllowedError{Aggregate: "door", ID: d1.String(), State: "opened", Event: "open"}, *tna)
	assert.ErrorIs(t, err, domain.ErrTransitionNotAllowed)
	assert.Equal(t, opened, m.State(), "a refused event leaves the state")

	assert.ErrorIs(t, m.Fire("fly"), domain.ErrTransitionNotAllowed, "unknown events are refused too")
}

func TestMachineKeysRowsByEventAndSource(t *testing.T) {
	m := doorTable().Start(d1, opened)
	require.NoError(t, m.Fire("kick"))
	assert.Equal(t, closed, m.State())
	require.NoError(t, m.Fire("kick"))
	assert.Equal(t, broken, m.State())
	assert.ErrorIs(t, m.Fire("kick"), domain.ErrTransitionNotAllowed)
}

func TestMachineCheckRefusesWithoutFiring(t *testing.T) {
	m := doorTable().Start(d1, closed)
	assert.NoError(t, m.Check("open"))
	assert.Equal(t, closed, m.State(), "a check does not fire")
	err := m.Check("touch")
	var tna *domain.TransitionNotAllowedError
	require.True(t, errors.As(err, &tna))
	assert.Equal(t, domain.TransitionNotAllowedError{Aggregate: "door", ID: d1.String(), State: "closed", Event: "touch"}, *tna)
	assert.Equal(t, m.Fire("touch"), err, "the refusal is the one Fire returns")
}

func TestRootReadsTheMachine(t *testing.T) {
	m := doorTable().Start(d1, closed)
	r := domain.NewRoot(m, 3)
	m.Record(testEvent{})
	require.NoError(t, m.Fire("open"))
	assert.Equal(t, opened, r.State())
	assert.Equal(t, int64(3), r.Version())
	r.SetVersion(4)
	assert.Equal(t, int64(4), r.Version())
	evs := r.Events()
	require.Len(t, evs, 1)
	evs[0] = nil
	assert.NotNil(t, r.Events()[0], "Events returns a copy")
}

type testEvent struct{}

func (testEvent) EventName() string     { return "door:opened" }
func (testEvent) OccurredAt() time.Time { return time.Time{} }

func TestTableParseAndRestore(t *testing.T) {
	tb := doorTable()
	s, err := tb.Parse("broken")
	require.NoError(t, err)
	assert.Equal(t, broken, s)
	_, err = tb.Parse("ajar")
	var ve *domain.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, "state", ve.Field)
	assert.Contains(t, ve.Reason, `unknown door state "ajar"`)

	id := "6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11"
	site := "5e000000-0000-4000-8000-000000000001"
	m, gotID, gotSite, err := tb.Restore(id, site, "opened")
	require.NoError(t, err)
	assert.Equal(t, domain.MustID(id), gotID)
	assert.Equal(t, domain.MustSiteID(site), gotSite)
	assert.Equal(t, opened, m.State())
	assert.Empty(t, m.Events(), "a restored machine has recorded nothing")
	for name, args := range map[string][3]string{
		"state": {id, site, "ajar"}, "id": {"d1", site, "opened"}, "siteId": {id, "", "opened"},
	} {
		_, _, _, err := tb.Restore(args[0], args[1], args[2])
		require.True(t, errors.As(err, &ve), name)
		assert.Equal(t, name, ve.Field)
	}
}

func TestTableIsNotChangedThroughItsCopies(t *testing.T) {
	tb := doorTable()
	rows := tb.Transitions()
	rows[0].From[0] = opened
	rows[0].To = broken
	_ = append(rows, domain.Transition[door]{Event: "fly", From: []door{closed}, To: broken})
	states := tb.States()
	states[0] = broken
	assert.Equal(t, doorTable().Transitions(), tb.Transitions())
	assert.Equal(t, []door{closed, opened, broken}, tb.States())
	m := tb.Start(d1, closed)
	assert.ErrorIs(t, m.Fire("fly"), domain.ErrTransitionNotAllowed)
	require.NoError(t, m.Fire("open"))
	assert.Equal(t, opened, m.State())

	// An aggregate's table, likewise.
	appt := appointment.Transitions()
	appt[0].Event = "explode"
	assert.Equal(t, "reschedule", appointment.Transitions()[0].Event)
}

func TestMustTableRefusesMalformedTables(t *testing.T) {
	ajar := door{"ajar"}
	for name, build := range map[string]func(){
		"state declared twice": func() { domain.MustTable("door", []door{closed, closed}, nil) },
		"undeclared source": func() {
			domain.MustTable("door", []door{closed}, []domain.Transition[door]{{Event: "open", From: []door{ajar}, To: closed}})
		},
		"undeclared destination": func() {
			domain.MustTable("door", []door{closed}, []domain.Transition[door]{{Event: "open", From: []door{closed}, To: ajar}})
		},
		"zero state": func() {
			domain.MustTable("door", []door{closed}, []domain.Transition[door]{{Event: "open", From: []door{closed}, To: door{}}})
		},
		"no event": func() {
			domain.MustTable("door", []door{closed}, []domain.Transition[door]{{From: []door{closed}, To: closed}})
		},
		"event twice from one state": func() {
			domain.MustTable("door", []door{closed, opened}, []domain.Transition[door]{
				{Event: "open", From: []door{closed}, To: opened}, {Event: "open", From: []door{closed}, To: closed}})
		},
	} {
		assert.Panics(t, build, name)
	}
}

// TestTransitionTables guards every aggregate's table: all states named in
// it are states of the aggregate, and self-transitions are only the ones
// that notify without changing state.
func TestTransitionTables(t *testing.T) {
	tables := []struct {
		name   string
		rows   []row
		states []string
		self   []string // events allowed to keep the state
	}{
		{"appointment", rows(appointment.Transitions()),
			[]string{"scheduled", "canceled", "completed", "no_show"}, []string{"reschedule", "rename"}},
		{"class", rows(class.Transitions()),
			[]string{"scheduled", "canceled", "completed"}, []string{"reschedule", "admit", "release"}},
		{"enrollment", rows(enrollment.Transitions()),
			[]string{"enrolled", "waitlisted", "left", "class_canceled", "attended"}, []string{"class_reschedule"}},
		{"course", rows(course.Transitions()),
			[]string{"scheduled", "canceled", "completed"},
			[]string{"add_session", "reschedule_session", "cancel_session", "admit", "release"}},
		{"session", rows(course.SessionTransitions()), []string{"scheduled", "canceled"}, []string{"reschedule"}},
		{"course enrollment", rows(courseenrollment.Transitions()),
			[]string{"enrolled", "left", "course_canceled", "completed"}, nil},
		{"series", rows(series.Transitions()), []string{"scheduled", "canceled"}, []string{"cancel_following"}},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			for _, tr := range tc.rows {
				assert.Contains(t, tc.states, tr.to)
				assert.Contains(t, tc.states, tr.from)
				if tr.from == tr.to {
					assert.Contains(t, tc.self, tr.event, "unintended self-transition %s on %s", tr.event, tr.from)
				}
			}
		})
	}
}

// row is one (event, source) of a table, by name.
type row struct{ event, from, to string }

func rows[S domain.Enum](table []domain.Transition[S]) []row {
	var out []row
	for _, tr := range table {
		for _, from := range tr.From {
			out = append(out, row{tr.Event, from.String(), tr.To.String()})
		}
	}
	return out
}
