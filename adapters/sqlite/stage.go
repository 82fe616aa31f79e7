package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/adapters/overlay"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// stageTx implements application.Tx without writing: a command's function
// runs against it on the caller's goroutine. Its reads go to one read-only
// snapshot of the database, overlaid with the transaction's own staged
// writes; its saves and enqueues are recorded as a write set (stageTx.ops)
// that the writer applies later with the same optimistic checks a direct
// write makes.
//
// The same type also runs inside the writer (the fallback of Update), with
// the writer's connection as its snapshot: its reads then see every commit
// and the earlier writes of the batch.
type stageTx struct {
	readTx
	db *DB
	// open starts the snapshot at the first read; nil once q is set.
	open func(ctx context.Context) (querier, error)

	appointments map[aggKey]appointment.Snapshot // staged, at their written version
	classes      map[aggKey]class.Snapshot
	enrollments  map[aggKey]enrollment.Snapshot
	// courses, courseEnrollments, series and settings are staged the same
	// way (courses_stage.go); settings by aggKey{site, site}.
	courses           map[aggKey]course.Snapshot
	courseEnrollments map[aggKey]courseenrollment.Snapshot
	series            map[aggKey]series.Snapshot
	settings          map[aggKey]site.Snapshot
	keys              map[aggKey]application.IdempotencyRecord // idempotency records saved (idempotency.go)
	ops               []writeOp
	// staged is set for a function run on the caller's goroutine: its
	// site settings may come from DB.settings, and checks holds the
	// settingsCheck of each it took from there, applied before ops.
	staged bool
	checks []settingsCheck
	undo   []versionUndo
}

// aggKey names an aggregate: its site and ID.
type aggKey struct{ site, id string }

// versionUndo is what puts an aggregate's version back when its staged
// write does not commit: a save sets the version it will write, and a
// function run again must save with the version it loaded.
type versionUndo struct {
	agg     interface{ SetVersion(int64) }
	version int64
}

// writeOp is one recorded write, applied by the writer on its connection.
type writeOp interface {
	apply(c *writeConn) error
}

// reader makes sure the snapshot is open.
func (t *stageTx) reader(ctx context.Context) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	if t.q != nil {
		return nil
	}
	q, err := t.open(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	t.q, t.open = q, nil
	return nil
}

// rollbackVersions puts back the versions of every aggregate saved in t.
func (t *stageTx) rollbackVersions() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i].agg.SetVersion(t.undo[i].version)
	}
	t.undo = nil
}

// Appointment implements application.ReadTx.
func (t *stageTx) Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if s, ok := t.appointments[aggKey{siteID.String(), id.String()}]; ok {
		return appointment.Restore(s)
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.Appointment(ctx, siteID, id)
}

// Class implements application.ReadTx.
func (t *stageTx) Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if s, ok := t.classes[aggKey{siteID.String(), id.String()}]; ok {
		return class.Restore(s)
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.Class(ctx, siteID, id)
}

// Enrollment implements application.ReadTx.
func (t *stageTx) Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if s, ok := t.enrollments[aggKey{siteID.String(), id.String()}]; ok {
		return enrollment.Restore(s)
	}
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.Enrollment(ctx, siteID, id)
}

// ActiveEnrollment implements application.ReadTx.
func (t *stageTx) ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	if len(t.enrollments) == 0 {
		return t.readTx.ActiveEnrollment(ctx, siteID, classID, participantID)
	}
	all, err := t.ActiveEnrollments(ctx, siteID, classID)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.ParticipantID() == participantID {
			return e, nil
		}
	}
	return nil, notFound(sql.ErrNoRows, "active enrollment of participant "+participantID.String()+" in class", classID.String())
}

// ActiveEnrollments implements application.ReadTx: the snapshot's active
// enrollments of the class, replaced by their staged versions (which may
// have left or moved), plus the staged ones the snapshot lacks, by position.
func (t *stageTx) ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	stored, err := t.readTx.ActiveEnrollments(ctx, siteID, classID)
	if err != nil || len(t.enrollments) == 0 {
		return stored, err
	}
	return overlay.Merge(stored, t.enrollments, func(id domain.ID) aggKey { return aggKey{siteID.String(), id.String()} },
		func(k aggKey, s enrollment.Snapshot) bool {
			return k.site == siteID.String() && s.ClassID == classID.String() && s.Active()
		},
		enrollment.Restore, func(a, b *enrollment.Enrollment) bool { return a.Position() < b.Position() })
}

// OldestWaitlisted implements application.ReadTx.
func (t *stageTx) OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	if len(t.enrollments) == 0 {
		return t.readTx.OldestWaitlisted(ctx, siteID, classID)
	}
	all, err := t.ActiveEnrollments(ctx, siteID, classID)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.State() == enrollment.StateWaitlisted {
			return e, nil
		}
	}
	return nil, notFound(sql.ErrNoRows, "waitlisted enrollment of class", classID.String())
}

// record stages a write of agg, saved at version (0: a new one): on
// success the aggregate takes the version it will have once written.
func (t *stageTx) record(agg interface{ SetVersion(int64) }, version int64, op writeOp) {
	t.ops = append(t.ops, op)
	t.undo = append(t.undo, versionUndo{agg: agg, version: version})
	agg.SetVersion(version + 1)
}

// SaveAppointment implements application.Tx: it stages the save, and the
// writer checks the version when it applies it. A second save of the same
// appointment in one transaction must carry the version the first one
// wrote, as it would against the database.
func (t *stageTx) SaveAppointment(ctx context.Context, a *appointment.Appointment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := a.Snapshot()
	k := aggKey{s.SiteID, s.ID}
	if prev, ok := t.appointments[k]; ok && prev.Version != s.Version {
		return saved(errStale, "appointment", s.ID, s.Version)
	}
	if t.appointments == nil {
		t.appointments = map[aggKey]appointment.Snapshot{}
	}
	written := s
	written.Version++
	t.appointments[k] = written
	t.record(a, s.Version, appointmentWrite(s))
	return nil
}

// SaveClass implements application.Tx, as SaveAppointment.
func (t *stageTx) SaveClass(ctx context.Context, c *class.Class) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := c.Snapshot()
	k := aggKey{s.SiteID, s.ID}
	if prev, ok := t.classes[k]; ok && prev.Version != s.Version {
		return saved(errStale, "class", s.ID, s.Version)
	}
	if t.classes == nil {
		t.classes = map[aggKey]class.Snapshot{}
	}
	written := s
	written.Version++
	t.classes[k] = written
	t.record(c, s.Version, classWrite(s))
	return nil
}

// SaveEnrollment implements application.Tx, as SaveAppointment. A second
// active enrollment of the same participant in the same class violates a
// unique index when applied and is ErrConflict.
func (t *stageTx) SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := e.Snapshot()
	k := aggKey{s.SiteID, s.ID}
	if prev, ok := t.enrollments[k]; ok && prev.Version != s.Version {
		return saved(errStale, "enrollment", s.ID, s.Version)
	}
	if t.enrollments == nil {
		t.enrollments = map[aggKey]enrollment.Snapshot{}
	}
	written := s
	written.Version++
	t.enrollments[k] = written
	t.record(e, s.Version, enrollmentWrite(s))
	return nil
}

// Enqueue implements application.Tx: it checks the calls and fills in their
// missing times now, and stages them for the writer.
func (t *stageTx) Enqueue(ctx context.Context, calls []application.Call) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	rows, err := prepareCalls(t.db.cfg.clock, calls)
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		t.ops = append(t.ops, callsWrite(rows))
	}
	return nil
}

// prepareCalls checks calls for enqueueing and returns copies with their
// unset times filled in: CreatedAt is now, NextAttemptAt is CreatedAt.
func prepareCalls(clock application.Clock, calls []application.Call) ([]application.Call, error) {
	rows := make([]application.Call, len(calls))
	for i, c := range calls {
		if c.ID == "" || c.SiteID == "" || c.OrderingKey == "" || c.TriggerKey == "" {
			return nil, fmt.Errorf("enqueue: call %q is missing its ID, site, ordering key or trigger key", c.ID)
		}
		if _, err := outbox.ParseKind(string(c.Kind)); err != nil {
			return nil, fmt.Errorf("enqueue: call %s: %w", c.ID, err)
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = clock.Now()
		}
		if c.NextAttemptAt.IsZero() {
			c.NextAttemptAt = c.CreatedAt
		}
		rows[i] = c
	}
	return rows, nil
}

// appointmentWrite inserts (version 0) or updates an appointment.
type appointmentWrite appointment.Snapshot

func (w appointmentWrite) apply(c *writeConn) error {
	s := appointment.Snapshot(w)
	var err error
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertAppointment,
			s.SiteID, s.ID, s.ContactID, s.Title, toMS(s.Start), toMS(s.End), s.State, s.CancelReason,
			toMS(s.BookedAt), toMS(s.ChangedAt), toMS(s.PreviousStart), toMS(s.RescheduledAt))
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateAppointment,
			s.ContactID, s.Title, toMS(s.Start), toMS(s.End), s.State, s.CancelReason,
			toMS(s.BookedAt), toMS(s.ChangedAt), toMS(s.PreviousStart), toMS(s.RescheduledAt), s.SiteID, s.ID, s.Version))
	}
	return saved(err, "appointment", s.ID, s.Version)
}

// classWrite inserts (version 0) or updates a class.
type classWrite class.Snapshot

func (w classWrite) apply(c *writeConn) error {
	s := class.Snapshot(w)
	var err error
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertClass,
			s.SiteID, s.ID, s.Title, toMS(s.Start), toMS(s.End), s.Capacity, s.Waitlist, s.Enrolled, s.Waitlisted,
			s.Admissions, s.State, s.CancelReason,
			toMS(s.ScheduledAt), toMS(s.ChangedAt), toMS(s.PreviousStart), toMS(s.RescheduledAt))
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateClass,
			s.Title, toMS(s.Start), toMS(s.End), s.Capacity, s.Waitlist, s.Enrolled, s.Waitlisted, s.Admissions,
			s.State, s.CancelReason, toMS(s.ScheduledAt), toMS(s.ChangedAt), toMS(s.PreviousStart), toMS(s.RescheduledAt),
			s.SiteID, s.ID, s.Version))
	}
	return saved(err, "class", s.ID, s.Version)
}

// enrollmentWrite inserts (version 0) or updates an enrollment.
type enrollmentWrite enrollment.Snapshot

func (w enrollmentWrite) apply(c *writeConn) error {
	s := enrollment.Snapshot(w)
	var err error
	if s.Version == 0 {
		_, err = c.ExecContext(context.Background(), qInsertEnrollment,
			s.SiteID, s.ID, s.ClassID, s.ParticipantID, s.Position, toMS(s.EnrolledAt), toMS(s.SeatedAt), toMS(s.EndedAt),
			toMS(s.ClassMovedAt), s.State)
	} else {
		err = updated(c.ExecContext(context.Background(), qUpdateEnrollment,
			s.ClassID, s.ParticipantID, s.Position, toMS(s.EnrolledAt), toMS(s.SeatedAt), toMS(s.EndedAt),
			toMS(s.ClassMovedAt), s.State, s.SiteID, s.ID, s.Version))
	}
	return saved(err, "enrollment", s.ID, s.Version)
}

// callsWrite appends checked calls to the outbox.
type callsWrite []application.Call

func (w callsWrite) apply(c *writeConn) error { return insertCalls(c, w) }

// applyOps applies a write set in order and returns the first error.
func applyOps(c *writeConn, ops []writeOp) error {
	for _, op := range ops {
		if err := op.apply(c); err != nil {
			return err
		}
	}
	return nil
}

// The statements of the writes.
const (
	qInsertAppointment = `INSERT INTO appointments (` + appointmentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	qUpdateAppointment = `UPDATE appointments SET contact_id = ?, title = ?, start_at = ?, end_at = ?,
		state = ?, cancel_reason = ?, booked_at = ?, changed_at = ?, previous_start_at = ?, rescheduled_at = ?,
		version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`
	qInsertClass = `INSERT INTO classes (` + classCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	qUpdateClass = `UPDATE classes SET title = ?, start_at = ?, end_at = ?, capacity = ?,
		waitlist = ?, enrolled = ?, waitlisted = ?, admissions = ?, state = ?, cancel_reason = ?,
		scheduled_at = ?, changed_at = ?, previous_start_at = ?, rescheduled_at = ?,
		version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`
	qInsertEnrollment = `INSERT INTO enrollments (` + enrollmentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	qUpdateEnrollment = `UPDATE enrollments SET class_id = ?, participant_id = ?, position = ?,
		enrolled_at = ?, seated_at = ?, ended_at = ?, class_moved_at = ?, state = ?, version = version + 1
		WHERE site_id = ? AND id = ? AND version = ?`
)

// errStale marks an optimistic update that matched no row.
var errStale = errors.New("stale version")

// updated turns an UPDATE that matched no row into errStale.
func updated(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errStale
	}
	return nil
}

// saved maps the outcome of a write to the port's errors.
func saved(err error, what, id string, version int64) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errStale):
		return fmt.Errorf("save %s %s: version %d is no longer current (or it does not exist): %w",
			what, id, version, application.ErrConflict)
	case isUniqueViolation(err):
		return fmt.Errorf("save %s %s: %v: %w", what, id, err, application.ErrConflict)
	}
	return fmt.Errorf("sqlite: save %s %s: %w", what, id, err)
}

// readStmts holds the statements of the snapshot reads, prepared on the
// read pool when the DB opens: database/sql then keeps each one prepared on
// every connection that ran it, so a read does not parse its SQL again.
// They are all prepared up front because preparing takes a connection of
// the pool, which a caller holding a snapshot must never wait for.
type readStmts struct {
	stmts map[string]*sql.Stmt
}

func prepareReads(ctx context.Context, db *sql.DB, queries []string) (*readStmts, error) {
	r := &readStmts{stmts: make(map[string]*sql.Stmt, len(queries))}
	for _, q := range queries {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, errors.Join(err, r.close())
		}
		r.stmts[q] = s
	}
	return r, nil
}

func (r *readStmts) close() error {
	var errs []error
	for _, s := range r.stmts {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// snapshot is an Update's read transaction, running the prepared
// statements of readStmts.
type snapshot struct {
	tx    *sql.Tx
	stmts *readStmts
}

// ExecContext implements querier; a snapshot only reads, so the read-only
// connection refuses any write.
func (s snapshot) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.tx.ExecContext(ctx, query, args...)
}

// QueryContext implements querier, with the prepared statement of query
// when there is one.
func (s snapshot) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := s.stmts.stmts[query]; ok {
		return s.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return s.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext implements querier, as QueryContext.
func (s snapshot) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := s.stmts.stmts[query]; ok {
		return s.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return s.tx.QueryRowContext(ctx, query, args...)
}

// Beliefs implements outbox.Histories on the snapshot. Calls staged in the
// transaction are not seen.
func (t *stageTx) Beliefs(ctx context.Context, siteID string, entityIDs []string) ([]outbox.Belief, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.Beliefs(ctx, siteID, entityIDs)
}

// AppointmentsAfter implements application.Pages on the snapshot: a page
// read after a save in the same transaction does not see the save.
func (t *stageTx) AppointmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*appointment.Appointment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.AppointmentsAfter(ctx, siteID, after, limit)
}

// EnrollmentsAfter implements application.Pages on the snapshot, as
// AppointmentsAfter.
func (t *stageTx) EnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*enrollment.Enrollment, error) {
	if err := t.reader(ctx); err != nil {
		return nil, err
	}
	return t.readTx.EnrollmentsAfter(ctx, siteID, after, limit)
}

// SiteAfter implements application.Pages on the snapshot.
func (t *stageTx) SiteAfter(ctx context.Context, after domain.SiteID) (domain.SiteID, error) {
	if err := t.reader(ctx); err != nil {
		return domain.SiteID{}, err
	}
	return t.readTx.SiteAfter(ctx, after)
}
