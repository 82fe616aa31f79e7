package wixsim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ControlPrefix starts every path of the control API and the page; Wix's
// own paths (/oauth2/token, /automations/v1/...) never do.
const ControlPrefix = "/_wixsim/"

// Emulator is the simulator run as a process that people drive over HTTP,
// as they drive the Firebase or LocalStack emulators: Wix's API for the
// app, and under ControlPrefix a JSON control API (list a site's events
// and activations, inject faults, move the clock, add automations and
// triggers, reset) and a page showing each site's automations as a
// timeline. See docs/wixsim.md for the routes.
type Emulator struct {
	sim   *Sim
	setup func(*Sim) error
	// resetMu makes a reset and its setup one step.
	resetMu sync.Mutex
}

// NewEmulator wraps sim. setup, when not nil, installs what the emulator
// starts with (automations, say); it runs now and again after every
// reset, so that a reset returns to the start.
func NewEmulator(sim *Sim, setup func(*Sim) error) (*Emulator, error) {
	e := &Emulator{sim: sim, setup: setup}
	if setup != nil {
		if err := setup(sim); err != nil {
			return nil, fmt.Errorf("wixsim: emulator setup: %w", err)
		}
	}
	return e, nil
}

// Sim returns the simulator the emulator serves.
func (e *Emulator) Sim() *Sim { return e.sim }

// Reset resets the simulator (Sim.Reset) and runs the setup again.
func (e *Emulator) Reset() error {
	e.resetMu.Lock()
	defer e.resetMu.Unlock()
	e.sim.Reset()
	if e.setup != nil {
		if err := e.setup(e.sim); err != nil {
			return fmt.Errorf("wixsim: emulator setup after reset: %w", err)
		}
	}
	return nil
}

// Handler serves the control API and the page under ControlPrefix and
// Wix's API everywhere else.
func (e *Emulator) Handler() http.Handler {
	control := e.controlHandler()
	wix := e.sim.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(ControlPrefix, "/") || strings.HasPrefix(r.URL.Path, ControlPrefix) {
			control.ServeHTTP(w, r)
			return
		}
		wix.ServeHTTP(w, r)
	})
}

// Run runs what is due every interval, Refresh Payload calls included,
// until ctx is done, so that activations run on time while nobody queries
// the simulator (which runs what is due, too). It returns ctx's error.
func (e *Emulator) Run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			e.sim.RunDueContext(ctx)
		}
	}
}
