// Package memory is the reference adapter of the Store and Outbox ports: it
// keeps aggregates as snapshots (never as shared pointers) and calls in
// memory, with the same optimistic versions, tenancy and outbox rules as the
// durable adapters. Tests and examples use it; it is not durable.
package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// Store implements application.Store and application.Outbox in memory. It is
// safe for concurrent use: Update runs one transaction at a time, View runs
// beside other Views.
type Store struct {
	mu    sync.RWMutex
	data  state
	seq   int64
	calls map[string]*record
	// keys holds, per ordering key, its calls; pending its pending calls
	// by Seq (the head first); leases the key's relay lease, if any.
	keys    map[string][]*record
	pending map[string][]*record
	leases  map[string]keyLease
	token   int64 // the last lease token handed out
	// compacted keeps what pruned calls said of Wix, per pair.
	compacted map[outbox.Pair]outbox.Belief
	// idempotency holds the records of idempotency keys.
	idempotency map[key]application.IdempotencyRecord
	// rates holds each site's rate-limit TAT (Throttle).
	rates map[string]time.Time
}

type key struct{ site, id string }

type state struct {
	appointments      map[key]appointment.Snapshot
	classes           map[key]class.Snapshot
	enrollments       map[key]enrollment.Snapshot
	courses           map[key]course.Snapshot
	courseEnrollments map[key]courseenrollment.Snapshot
	series            map[key]series.Snapshot
	settings          map[key]site.Snapshot // by site: key{site, site}
}

func newState() state {
	return state{
		appointments:      map[key]appointment.Snapshot{},
		classes:           map[key]class.Snapshot{},
		enrollments:       map[key]enrollment.Snapshot{},
		courses:           map[key]course.Snapshot{},
		courseEnrollments: map[key]courseenrollment.Snapshot{},
		series:            map[key]series.Snapshot{},
		settings:          map[key]site.Snapshot{},
	}
}

// commit copies staged into s.
func (s state) commit(staged state) {
	copyInto(s.appointments, staged.appointments)
	copyInto(s.classes, staged.classes)
	copyInto(s.enrollments, staged.enrollments)
	copyInto(s.courses, staged.courses)
	copyInto(s.courseEnrollments, staged.courseEnrollments)
	copyInto(s.series, staged.series)
	copyInto(s.settings, staged.settings)
}

func copyInto[T any](dst, src map[key]T) {
	for k, v := range src {
		dst[k] = v
	}
}

type record struct {
	call    application.Call
	lease   time.Time
	history []application.Attempt
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		data:        newState(),
		calls:       map[string]*record{},
		keys:        map[string][]*record{},
		pending:     map[string][]*record{},
		leases:      map[string]keyLease{},
		compacted:   map[outbox.Pair]outbox.Belief{},
		idempotency: map[key]application.IdempotencyRecord{},
		rates:       map[string]time.Time{},
	}
}

var (
	_ application.Store  = (*Store)(nil)
	_ application.Outbox = (*Store)(nil)
	_ relay.RateStore    = (*Store)(nil)
)

// Update runs fn in a transaction that commits when fn returns nil.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &tx{readTx: readTx{s: s}, staged: newState()}
	tx.readTx.overlay = &tx.staged
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("memory: transaction panicked: %v", p)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.data.commit(tx.staged)
	for _, p := range tx.pruned {
		for k, rec := range s.idempotency {
			if k.site == p.site && rec.CreatedAt.Before(p.before) {
				delete(s.idempotency, k)
			}
		}
	}
	for k, rec := range tx.keys {
		s.idempotency[k] = rec
	}
	s.enqueueLocked(tx.calls)
	return nil
}

// View runs fn on the committed state.
func (s *Store) View(ctx context.Context, fn func(ctx context.Context, tx application.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(ctx, &readTx{s: s})
}

// readTx reads the committed state, seen through the overlay of a write
// transaction's staged changes when there is one.
type readTx struct {
	s       *Store
	overlay *state
}

func lookup[T any](overlay, base map[key]T, k key) (T, bool) {
	if overlay != nil {
		if v, ok := overlay[k]; ok {
			return v, true
		}
	}
	v, ok := base[k]
	return v, ok
}

func (r *readTx) appointments() map[key]appointment.Snapshot {
	if r.overlay == nil {
		return nil
	}
	return r.overlay.appointments
}

func (r *readTx) classes() map[key]class.Snapshot {
	if r.overlay == nil {
		return nil
	}
	return r.overlay.classes
}

func (r *readTx) enrollmentsOverlay() map[key]enrollment.Snapshot {
	if r.overlay == nil {
		return nil
	}
	return r.overlay.enrollments
}

func (r *readTx) Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error) {
	snap, ok := lookup(r.appointments(), r.s.data.appointments, key{siteID.String(), id.String()})
	if !ok {
		return nil, application.ErrNotFound
	}
	return appointment.Restore(snap)
}

func (r *readTx) Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error) {
	snap, ok := lookup(r.classes(), r.s.data.classes, key{siteID.String(), id.String()})
	if !ok {
		return nil, application.ErrNotFound
	}
	return class.Restore(snap)
}

func (r *readTx) Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error) {
	snap, ok := lookup(r.enrollmentsOverlay(), r.s.data.enrollments, key{siteID.String(), id.String()})
	if !ok {
		return nil, application.ErrNotFound
	}
	return enrollment.Restore(snap)
}

// classEnrollments returns the merged enrollments of a class, by position.
func (r *readTx) classEnrollments(siteID, classID string) []enrollment.Snapshot {
	merged := map[key]enrollment.Snapshot{}
	for k, v := range r.s.data.enrollments {
		if k.site == siteID && v.ClassID == classID {
			merged[k] = v
		}
	}
	for k, v := range r.enrollmentsOverlay() {
		if k.site == siteID && v.ClassID == classID {
			merged[k] = v
		}
	}
	out := make([]enrollment.Snapshot, 0, len(merged))
	for _, v := range merged {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Position < out[j].Position })
	return out
}

func (r *readTx) ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error) {
	for _, v := range r.classEnrollments(siteID.String(), classID.String()) {
		if v.ParticipantID == participantID.String() && v.Active() {
			return enrollment.Restore(v)
		}
	}
	return nil, application.ErrNotFound
}

func (r *readTx) ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error) {
	out := []*enrollment.Enrollment{}
	for _, v := range r.classEnrollments(siteID.String(), classID.String()) {
		if !v.Active() {
			continue
		}
		e, err := enrollment.Restore(v)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Beliefs implements outbox.Histories on what this transaction sees.
func (r *readTx) Beliefs(ctx context.Context, siteID string, entityIDs []string) ([]outbox.Belief, error) {
	return r.s.beliefs(siteID, entityIDs), nil
}

func (r *readTx) OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error) {
	for _, v := range r.classEnrollments(siteID.String(), classID.String()) {
		if v.State == enrollment.StateWaitlisted.String() {
			return enrollment.Restore(v)
		}
	}
	return nil, application.ErrNotFound
}

// tx stages writes until Update commits them.
type tx struct {
	readTx
	staged state
	calls  []application.Call
	keys   map[key]application.IdempotencyRecord // idempotency records saved
	pruned []prune                               // expired idempotency records deleted, in order
}

// prune deletes a site's idempotency records created before a time.
type prune struct {
	site   string
	before time.Time
}

// Idempotency implements application.Tx.
func (t *tx) Idempotency(ctx context.Context, siteID domain.SiteID, k string) (application.IdempotencyRecord, error) {
	if rec, ok := t.keys[key{siteID.String(), k}]; ok {
		return copyRecord(rec), nil
	}
	rec, ok := t.s.idempotency[key{siteID.String(), k}]
	if !ok || t.prunedRecord(rec) {
		return application.IdempotencyRecord{}, fmt.Errorf("idempotency key %q: %w", k, application.ErrNotFound)
	}
	return copyRecord(rec), nil
}

// prunedRecord reports whether this transaction deleted a committed record.
func (t *tx) prunedRecord(rec application.IdempotencyRecord) bool {
	for _, p := range t.pruned {
		if p.site == rec.SiteID.String() && rec.CreatedAt.Before(p.before) {
			return true
		}
	}
	return false
}

// SaveIdempotency implements application.Tx.
func (t *tx) SaveIdempotency(ctx context.Context, rec application.IdempotencyRecord, expiredBefore time.Time) error {
	t.pruned = append(t.pruned, prune{rec.SiteID.String(), expiredBefore})
	for k, staged := range t.keys {
		if k.site == rec.SiteID.String() && staged.CreatedAt.Before(expiredBefore) {
			delete(t.keys, k)
		}
	}
	if _, err := t.Idempotency(ctx, rec.SiteID, rec.Key); err == nil {
		return fmt.Errorf("save idempotency key %q: %w", rec.Key, application.ErrConflict)
	}
	if t.keys == nil {
		t.keys = map[key]application.IdempotencyRecord{}
	}
	t.keys[key{rec.SiteID.String(), rec.Key}] = copyRecord(rec)
	return nil
}

func copyRecord(rec application.IdempotencyRecord) application.IdempotencyRecord {
	rec.Result = append([]byte(nil), rec.Result...)
	return rec
}

// checkVersion enforces the optimistic version rule against what this
// transaction sees (committed state plus its own staged writes).
func checkVersion[T any](overlay, base map[key]T, k key, version int64, stored func(T) int64) error {
	cur, ok := lookup(overlay, base, k)
	switch {
	case version == 0 && ok:
		return fmt.Errorf("%s already exists: %w", k.id, application.ErrConflict)
	case version == 0:
		return nil
	case !ok:
		return fmt.Errorf("%s: %w", k.id, application.ErrNotFound)
	case stored(cur) != version:
		return fmt.Errorf("%s changed since it was loaded (version %d, stored %d): %w", k.id, version, stored(cur), application.ErrConflict)
	}
	return nil
}

func (t *tx) SaveAppointment(ctx context.Context, a *appointment.Appointment) error {
	snap := a.Snapshot()
	k := key{snap.SiteID, snap.ID}
	if err := checkVersion(t.staged.appointments, t.s.data.appointments, k, snap.Version,
		func(s appointment.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save appointment: %w", err)
	}
	snap.Version++
	t.staged.appointments[k] = snap
	a.SetVersion(snap.Version)
	return nil
}

func (t *tx) SaveClass(ctx context.Context, c *class.Class) error {
	snap := c.Snapshot()
	k := key{snap.SiteID, snap.ID}
	if err := checkVersion(t.staged.classes, t.s.data.classes, k, snap.Version,
		func(s class.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save class: %w", err)
	}
	snap.Version++
	t.staged.classes[k] = snap
	c.SetVersion(snap.Version)
	return nil
}

func (t *tx) SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error {
	snap := e.Snapshot()
	k := key{snap.SiteID, snap.ID}
	if err := checkVersion(t.staged.enrollments, t.s.data.enrollments, k, snap.Version,
		func(s enrollment.Snapshot) int64 { return s.Version }); err != nil {
		return fmt.Errorf("save enrollment: %w", err)
	}
	if snap.Active() {
		for _, other := range t.classEnrollments(snap.SiteID, snap.ClassID) {
			if other.ID != snap.ID && other.ParticipantID == snap.ParticipantID && other.Active() {
				return fmt.Errorf("save enrollment: participant %s already active in class %s: %w",
					snap.ParticipantID, snap.ClassID, application.ErrConflict)
			}
		}
	}
	snap.Version++
	t.staged.enrollments[k] = snap
	e.SetVersion(snap.Version)
	return nil
}

func (t *tx) Enqueue(ctx context.Context, calls []application.Call) error {
	for _, c := range calls {
		if c.ID == "" || c.SiteID == "" || c.OrderingKey == "" || c.TriggerKey == "" {
			return fmt.Errorf("enqueue: call is missing its ID, site, ordering key or trigger key")
		}
		if _, dup := t.s.calls[c.ID]; dup {
			return fmt.Errorf("enqueue: call %s: %w", c.ID, application.ErrConflict)
		}
		c.State = application.StatePending
		c.Attempts = 0
		c.LastError = nil
		if c.NextAttemptAt.IsZero() {
			c.NextAttemptAt = c.CreatedAt
		}
		c.Payload = append([]byte(nil), c.Payload...)
		t.calls = append(t.calls, c)
	}
	return nil
}

// Throttle implements relay.RateStore for the relays sharing this
// store: it reads the site's TAT, calls fn and keeps what fn returns when
// spend is true, under the store's lock.
func (s *Store) Throttle(ctx context.Context, siteID string, fn func(tat time.Time) (next time.Time, spend bool)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if next, spend := fn(s.rates[siteID]); spend {
		s.rates[siteID] = next
	}
	return nil
}
