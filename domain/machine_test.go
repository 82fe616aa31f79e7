package domain_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

var table = []domain.Transition{
	{Event: "open", From: []string{"closed"}, To: "opened"},
	{Event: "touch", From: []string{"opened"}, To: "opened"},
}

func TestMachineFire(t *testing.T) {
	m := domain.NewMachine("door", "closed", table)
	require.NoError(t, m.Fire("d1", "open"))
	assert.Equal(t, "opened", m.State())
	require.NoError(t, m.Fire("d1", "touch"), "an intended self-transition is not an error")

	err := m.Fire("d1", "open")
	var tna *domain.TransitionNotAllowedError
	require.True(t, errors.As(err, &tna))
	assert.Equal(t, domain.TransitionNotAllowedError{Aggregate: "door", ID: "d1", State: "opened", Event: "open"}, *tna)
	assert.ErrorIs(t, err, domain.ErrTransitionNotAllowed)
	assert.Equal(t, "opened", m.State(), "a refused event leaves the state")

	assert.ErrorIs(t, m.Fire("d1", "fly"), domain.ErrTransitionNotAllowed, "unknown events are refused too")
}

// TestTransitionTables guards every aggregate's table: all states named in
// it are states of the aggregate, and self-transitions are only the ones
// that notify without changing state.
func TestTransitionTables(t *testing.T) {
	tables := []struct {
		name   string
		table  []domain.Transition
		states []string
		self   []string // events allowed to keep the state
	}{
		{"appointment", appointment.Transitions,
			[]string{"scheduled", "canceled", "completed", "no_show"}, []string{"reschedule"}},
		{"class", class.Transitions,
			[]string{"scheduled", "canceled", "completed"}, []string{"reschedule", "admit", "release"}},
		{"enrollment", enrollment.Transitions,
			[]string{"enrolled", "waitlisted", "left", "class_canceled", "attended"}, []string{"class_reschedule"}},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			events := map[string]bool{}
			for _, tr := range tc.table {
				assert.False(t, events[tr.Event], "event %s declared once", tr.Event)
				events[tr.Event] = true
				assert.Contains(t, tc.states, tr.To)
				for _, from := range tr.From {
					assert.Contains(t, tc.states, from)
					if from == tr.To {
						assert.Contains(t, tc.self, tr.Event, "unintended self-transition %s on %s", tr.Event, from)
					}
				}
			}
		})
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"6F1C2E0A-7D4B-4C5E-9A51-0B3F6D2C8E11", "6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11", true},
		{"6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11", "6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11", true},
		{"", "", false},
		{"   ", "", false},
		{"00000000-0000-0000-0000-000000000000", "", false},
		{"{6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11}", "", false},
		{"6f1c2e0a7d4b4c5e9a510b3f6d2c8e11", "", false},
		{"6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e1z", "", false},
	}
	for _, tc := range tests {
		got, err := domain.ParseID("contactId", tc.in)
		if !tc.ok {
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "%q", tc.in)
			assert.Equal(t, "contactId", ve.Field)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}
