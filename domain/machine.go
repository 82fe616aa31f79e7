package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/looplab/fsm"
)

// Enum is what an aggregate's state type provides: comparable values that
// know their stored name. Each aggregate package declares its own closed type
// (a struct with an unexported name), so that no other package can make a
// state, and lists every value in its Table.
type Enum interface {
	comparable
	String() string
}

// Transition is one row of an aggregate's transition table: the event, the
// states it may fire from, and the state it leads to. looplab/fsm keys
// transitions by (event, source state), so one event may have several rows
// from different states, each with its own destination.
type Transition[S Enum] struct {
	Event string
	From  []S
	To    S
}

// Table is an aggregate's closed set of states and its transition table. An
// aggregate package declares it once, unexported, and hands out copies of
// its rows: nobody outside the package can change what the aggregate allows.
// A Table is immutable and safe for concurrent use.
type Table[S Enum] struct {
	aggregate   string
	states      []S
	byName      map[string]S
	transitions []Transition[S]
	events      fsm.Events
}

// MustTable builds the table of aggregate from its states and transitions,
// keeping copies of both. It panics when the table is malformed (a state
// declared twice, a row naming an undeclared state, an event without a name,
// or the same event declared twice from one state): tables are package
// variables, so a malformed one stops the program at start, as a bad
// regexp.MustCompile does.
func MustTable[S Enum](aggregate string, states []S, transitions []Transition[S]) *Table[S] {
	t := &Table[S]{aggregate: aggregate, states: slices.Clone(states), byName: make(map[string]S, len(states))}
	for _, s := range states {
		if _, dup := t.byName[s.String()]; dup {
			panic(fmt.Sprintf("domain: %s state %q declared twice", aggregate, s))
		}
		t.byName[s.String()] = s
	}
	seen := map[[2]string]bool{}
	for _, tr := range transitions {
		if tr.Event == "" {
			panic(fmt.Sprintf("domain: %s transition without an event", aggregate))
		}
		t.mustKnow(tr.To)
		src := make([]string, len(tr.From))
		for i, from := range tr.From {
			t.mustKnow(from)
			key := [2]string{tr.Event, from.String()}
			if seen[key] {
				panic(fmt.Sprintf("domain: %s event %q declared twice from %q", aggregate, tr.Event, from))
			}
			seen[key] = true
			src[i] = from.String()
		}
		t.transitions = append(t.transitions, Transition[S]{Event: tr.Event, From: slices.Clone(tr.From), To: tr.To})
		t.events = append(t.events, fsm.EventDesc{Name: tr.Event, Src: src, Dst: tr.To.String()})
	}
	return t
}

func (t *Table[S]) mustKnow(s S) {
	if known, ok := t.byName[s.String()]; !ok || known != s {
		panic(fmt.Sprintf("domain: %s transition names undeclared state %q", t.aggregate, s))
	}
}

// Aggregate returns the name of the aggregate, as TransitionNotAllowedError
// names it.
func (t *Table[S]) Aggregate() string { return t.aggregate }

// States returns a copy of the closed set of states, in declaration order.
func (t *Table[S]) States() []S { return slices.Clone(t.states) }

// Transitions returns a copy of the rows, in declaration order: changing it
// changes nothing of the table.
func (t *Table[S]) Transitions() []Transition[S] {
	out := make([]Transition[S], len(t.transitions))
	for i, tr := range t.transitions {
		out[i] = Transition[S]{Event: tr.Event, From: slices.Clone(tr.From), To: tr.To}
	}
	return out
}

// Parse reads a state from its stored name. An unknown name is a
// *ValidationError on the field "state".
func (t *Table[S]) Parse(name string) (S, error) {
	if s, ok := t.byName[name]; ok {
		return s, nil
	}
	var zero S
	return zero, Invalid("state", fmt.Sprintf("unknown %s state %q", t.aggregate, name))
}

// Start returns the machine of a new aggregate id, in state initial.
func (t *Table[S]) Start(id ID, initial S) *Machine[S] {
	t.mustKnow(initial)
	return &Machine[S]{table: t, id: id.String(), state: initial, fsm: fsm.NewFSM(initial.String(), t.events, nil)}
}

// Restore returns the machine of a stored aggregate, for the Restore
// function of each aggregate: it validates what every stored aggregate has
// (its ID and site are UUIDs, its state is one of the table's) and records
// no event. It returns the parsed ID and site beside the machine, and a
// *ValidationError when the stored form is invalid.
func (t *Table[S]) Restore(id, siteID, state string) (*Machine[S], ID, SiteID, error) {
	s, err := t.Parse(state)
	if err != nil {
		return nil, ID{}, SiteID{}, err
	}
	pid, err := ParseID("id", id)
	if err != nil {
		return nil, ID{}, SiteID{}, err
	}
	site, err := ParseSiteID(siteID)
	if err != nil {
		return nil, ID{}, SiteID{}, err
	}
	return t.Start(pid, s), pid, site, nil
}

// Mermaid renders the table as a Mermaid state diagram, for the
// documentation. The machine is built afresh in initial so that the diagram
// does not depend on any aggregate's current state.
func (t *Table[S]) Mermaid(initial S) string {
	out, err := fsm.VisualizeWithType(t.Start(ID{}, initial).fsm, fsm.MermaidStateDiagram)
	if err != nil {
		return ""
	}
	return out
}

// Machine is one aggregate's looplab/fsm state machine, its state as a typed
// value beside it, and the events the aggregate recorded since it was built
// or loaded. No fsm type or error leaves the domain, and the machine carries
// no callbacks: aggregates check their guards before firing and record
// events after, so a refused command changes nothing.
//
// An aggregate holds its machine in an unexported field: whoever holds it
// can change the aggregate's state.
type Machine[S Enum] struct {
	table  *Table[S]
	id     string
	fsm    *fsm.FSM
	state  S
	events []Event
}

// State returns the current state.
func (m *Machine[S]) State() S { return m.state }

// Can reports whether event may fire in the current state.
func (m *Machine[S]) Can(event string) bool { return m.fsm.Can(event) }

// Check returns the refusal Fire would return for event, without firing: a
// *TransitionNotAllowedError when the table has no row for event from the
// current state, nil when it has one. Aggregates call it before checking
// their own guards, so that a command the state forbids is refused as such.
func (m *Machine[S]) Check(event string) error {
	if m.fsm.Can(event) {
		return nil
	}
	return m.refusal(event)
}

// Fire moves the machine through event, or returns a
// *TransitionNotAllowedError naming the aggregate, its ID, its state and the
// event, and leaves the state.
func (m *Machine[S]) Fire(event string) error {
	err := m.fsm.Event(context.Background(), event)
	var noTransition fsm.NoTransitionError
	if err != nil && !(errors.As(err, &noTransition) && noTransition.Err == nil) {
		return m.refusal(event) // an intended self-transition is reported as NoTransitionError{nil}: not a failure
	}
	m.state = m.table.byName[m.fsm.Current()] // every destination is a declared state
	return nil
}

func (m *Machine[S]) refusal(event string) error {
	return &TransitionNotAllowedError{Aggregate: m.table.aggregate, ID: m.id, State: m.state.String(), Event: event}
}

// Record appends an event the aggregate recorded.
func (m *Machine[S]) Record(e Event) { m.events = append(m.events, e) }

// Events returns a copy of the recorded events, oldest first.
func (m *Machine[S]) Events() []Event { return slices.Clone(m.events) }

// Root is the part of an aggregate that callers read the same way on every
// aggregate: its state, its stored version and its recorded events. An
// aggregate embeds it through an unexported alias (type root =
// domain.Root[State]), so that the field stays private and only these
// methods are promoted, and keeps the Root's machine in a field of its own
// to change its state.
type Root[S Enum] struct {
	machine *Machine[S]
	version int64
}

// NewRoot returns the root of an aggregate driven by m, loaded at version
// (0 when new).
func NewRoot[S Enum](m *Machine[S], version int64) Root[S] {
	return Root[S]{machine: m, version: version}
}

// State returns the current state.
func (r *Root[S]) State() S { return r.machine.State() }

// Version returns the stored version the aggregate was loaded at (0 when
// new), or the one a store just wrote.
func (r *Root[S]) Version() int64 { return r.version }

// SetVersion is for store adapters only: it records the version just
// written, so that the caller sees what it will read back.
func (r *Root[S]) SetVersion(v int64) { r.version = v }

// Events returns the events recorded since the aggregate was created or
// loaded, oldest first.
func (r *Root[S]) Events() []Event { return r.machine.Events() }
