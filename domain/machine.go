package domain

import (
	"context"
	"errors"

	"github.com/looplab/fsm"
)

// Transition is one row of an aggregate's transition table: the event, the
// states it may fire from, and the state it leads to.
type Transition struct {
	Event string
	From  []string
	To    string
}

// Machine wraps a looplab/fsm state machine so that no fsm type or error
// leaves the domain. It carries no callbacks: aggregates check their guards
// before firing, and record events after, so a refused command changes
// nothing.
type Machine struct {
	aggregate string
	fsm       *fsm.FSM
}

// NewMachine builds a machine in state from the transition table. It is
// cheap (a few microseconds), so aggregates rebuild it on every load.
func NewMachine(aggregate, state string, table []Transition) *Machine {
	events := make(fsm.Events, 0, len(table))
	for _, t := range table {
		events = append(events, fsm.EventDesc{Name: t.Event, Src: t.From, Dst: t.To})
	}
	return &Machine{aggregate: aggregate, fsm: fsm.NewFSM(state, events, nil)}
}

// State returns the current state.
func (m *Machine) State() string { return m.fsm.Current() }

// Can reports whether event may fire in the current state.
func (m *Machine) Can(event string) bool { return m.fsm.Can(event) }

// Fire moves the machine through event, or returns a
// *TransitionNotAllowedError naming the aggregate id, its state and the event.
func (m *Machine) Fire(id, event string) error {
	from := m.fsm.Current()
	err := m.fsm.Event(context.Background(), event)
	if err == nil {
		return nil
	}
	var noTransition fsm.NoTransitionError
	if errors.As(err, &noTransition) && noTransition.Err == nil {
		return nil // a self-transition: fsm reports it, but it is not a failure
	}
	return &TransitionNotAllowedError{Aggregate: m.aggregate, ID: id, State: from, Event: event}
}

// Mermaid renders the transition table as a Mermaid state diagram, for the
// documentation. The machine is built afresh in initial so that the diagram
// does not depend on any aggregate's current state.
func Mermaid(aggregate, initial string, table []Transition) string {
	m := NewMachine(aggregate, initial, table)
	out, err := fsm.VisualizeWithType(m.fsm, fsm.MermaidStateDiagram)
	if err != nil {
		return ""
	}
	return out
}
