package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// querier is what the transactions run SQL on: the writer's connection or a
// read-only *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// errTxDone is returned by a transaction used after its function returned.
var errTxDone = errors.New("sqlite: transaction used after its function returned")

// Update runs fn as one transaction and returns fn's error (nothing of fn
// is written) or nil once its writes are committed and durable.
//
// fn runs on the caller's goroutine, not in the writer: its reads see one
// consistent snapshot of the database (a read transaction begun at its first
// read) together with its own saves, and its saves and enqueues are only
// recorded. Site settings are the exception: they may come from a cache,
// and the writer checks them at commit (settings_cache.go). When fn returns nil, the writer applies the recorded writes in
// the next group commit, with the usual optimistic checks: an update of an
// aggregate whose version moved since the snapshot, or an insert of an ID
// that exists, is a conflict. A conflict is not returned at once: fn runs a
// second time inside the writer, where no other write can come in between
// its reads and its writes, and what that run meets (ErrConflict only if fn
// itself saves a stale or duplicate aggregate) is returned. So a command on
// a contended aggregate costs one more run, not a failure, and fn may run
// twice, as the Store port allows.
//
// A save sets the aggregate's version to the one it will write; when the
// transaction does not commit, every saved aggregate gets its version back.
// A panic in fn becomes a *PanicError for this caller only.
//
// Context: a ctx canceled during fn, or before the writer takes the writes,
// returns ctx.Err() and writes nothing. Once the writer has applied them, a
// canceled ctx still rolls them back and returns ctx.Err(). So a nil error
// always means durable and an error always means nothing was written.
//
// When the writer is idle (one caller at a time), fn runs in the writer
// straight away instead: there is no other work to overlap with, and its
// reads then need no snapshot of their own.
//
// fn must not call Update or View on the same DB, and must not keep or
// share tx.
func (db *DB) Update(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error) error {
	if db.w.closed() {
		return ErrClosed
	}
	if !db.stageAlways && db.w.idle() {
		return db.updateInWriter(ctx, fn)
	}
	conflict, err := db.updateStaged(ctx, fn)
	if !conflict {
		return err
	}
	return db.updateInWriter(ctx, fn)
}

// updateStaged runs fn against a snapshot on the caller's goroutine and
// hands its write set to the writer. conflict reports that the writes met
// a changed or existing aggregate when applied.
func (db *DB) updateStaged(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error) (conflict bool, err error) {
	var read *sql.Tx
	t := &stageTx{db: db, staged: true, open: func(ctx context.Context) (querier, error) {
		tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		read = tx
		return snapshot{tx: tx, stmts: db.reads}, nil
	}}
	err = callUpdate(ctx, fn, t)
	t.end()
	if read != nil {
		_ = read.Rollback() // a read-only transaction has nothing to keep
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		t.rollbackVersions()
		return false, err
	}
	if len(t.ops) == 0 && len(t.checks) == 0 {
		return false, nil // nothing to write: the snapshot was committed, hence durable
	}
	ops := t.ops
	if len(t.checks) > 0 {
		ops = make([]writeOp, 0, len(t.checks)+len(t.ops))
		for _, k := range t.checks {
			ops = append(ops, k)
		}
		ops = append(ops, t.ops...)
	}
	if err := db.w.apply(ctx, ops); err != nil {
		t.rollbackVersions()
		return errors.Is(err, application.ErrConflict), err
	}
	return false, nil
}

// updateInWriter runs fn inside the writer, reading and writing on the
// writer's connection: no other write comes between its reads and its
// writes.
func (db *DB) updateInWriter(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error) error {
	var t *stageTx
	err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		t = &stageTx{readTx: readTx{q: c}, db: db}
		defer t.end()
		if err := fn(ctx, t); err != nil {
			return err
		}
		return applyOps(c, t.ops)
	})
	if err != nil && t != nil {
		t.rollbackVersions()
	}
	return err
}

// callUpdate runs fn, turning a panic into a *PanicError.
func callUpdate(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error, t *stageTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, t)
}

// View runs fn on a consistent snapshot of the database, on a read-only
// connection: it never waits for the writer.
func (db *DB) View(ctx context.Context, fn func(ctx context.Context, tx application.ReadTx) error) error {
	if db.w.closed() {
		return ErrClosed
	}
	sqlTx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // a read-only tx has nothing to keep
	t := &readTx{q: sqlTx}
	defer t.end()
	return fn(ctx, t)
}

// The conditions of an active enrollment and of a waitlisted one, built from
// the domain's definition (enrollment.ActiveStates). They are also the
// WHERE of the partial indexes enrollments_one_active,
// enrollments_active_by_position and enrollments_waitlist, written in the
// migrations: SQLite uses a partial index only for a query that repeats its
// condition, and TestIndexConditionsFollowTheDomain proves the two equal.
var (
	activeEnrollment     = "state IN (" + sqlStrings(enrollment.ActiveStates()) + ")"
	waitlistedEnrollment = "state = " + sqlStrings([]enrollment.State{enrollment.StateWaitlisted})
)

// The reads of aggregates. Update's snapshots run them as statements
// prepared once (readStmts).
var (
	qAppointment      = `SELECT ` + appointmentCols + ` FROM appointments WHERE site_id = ? AND id = ?`
	qClass            = `SELECT ` + classCols + ` FROM classes WHERE site_id = ? AND id = ?`
	qEnrollment       = `SELECT ` + enrollmentCols + ` FROM enrollments WHERE site_id = ? AND id = ?`
	qActiveEnrollment = `SELECT ` + enrollmentCols + ` FROM enrollments
		WHERE site_id = ? AND class_id = ? AND participant_id = ? AND ` + activeEnrollment
	qActiveEnrollments = `SELECT ` + enrollmentCols + ` FROM enrollments
		WHERE site_id = ? AND class_id = ? AND ` + activeEnrollment + ` ORDER BY position`
	qOldestWaitlisted = `SELECT ` + enrollmentCols + ` FROM enrollments
		WHERE site_id = ? AND class_id = ? AND ` + waitlistedEnrollment + ` ORDER BY position LIMIT 1`
)

// sqlStrings returns the names of states as a list of SQL string literals:
// 'enrolled', 'waitlisted'.
func sqlStrings[S interface{ String() string }](states []S) string {
	quoted := make([]string, len(states))
	for i, s := range states {
		quoted[i] = "'" + strings.ReplaceAll(s.String(), "'", "''") + "'"
	}
	return strings.Join(quoted, ", ")
}

// aggregateReads lists them.
var aggregateReads = append([]string{qAppointment, qClass, qEnrollment, qActiveEnrollment, qActiveEnrollments, qOldestWaitlisted,
	qIdempotency}, courseReads...)

// readTx implements application.ReadTx.
type readTx struct {
	q    querier
	done bool
}

func (t *readTx) end() { t.done = true }

func (t *readTx) check(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	return ctx.Err()
}

const appointmentCols = `site_id, id, contact_id, title, start_at, end_at, state, cancel_reason,
	booked_at, changed_at, previous_start_at, rescheduled_at, version`

func scanAppointment(row interface{ Scan(...any) error }) (*appointment.Appointment, error) {
	var s appointment.Snapshot
	var start, end, booked, changed, prevStart, rescheduled int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.ContactID, &s.Title, &start, &end, &s.State, &s.CancelReason,
		&booked, &changed, &prevStart, &rescheduled, &s.Version); err != nil {
		return nil, err
	}
	s.Start, s.End = fromMS(start), fromMS(end)
	s.BookedAt, s.ChangedAt, s.PreviousStart, s.RescheduledAt = fromMS(booked), fromMS(changed), fromMS(prevStart), fromMS(rescheduled)
	return appointment.Restore(s)
}

// Appointment implements application.ReadTx.
func (t *readTx) Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	a, err := scanAppointment(t.q.QueryRowContext(ctx, qAppointment, siteID.String(), id.String()))
	return a, notFound(err, "appointment", id.String())
}

const classCols = `site_id, id, title, start_at, end_at, capacity, waitlist, enrolled, waitlisted, admissions, state,
	cancel_reason, scheduled_at, changed_at, previous_start_at, rescheduled_at, version`

func scanClass(row interface{ Scan(...any) error }) (*class.Class, error) {
	var s class.Snapshot
	var start, end, scheduled, changed, prevStart, rescheduled int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.Title, &start, &end, &s.Capacity, &s.Waitlist, &s.Enrolled,
		&s.Waitlisted, &s.Admissions, &s.State, &s.CancelReason, &scheduled, &changed, &prevStart, &rescheduled,
		&s.Version); err != nil {
		return nil, err
	}
	s.Start, s.End = fromMS(start), fromMS(end)
	s.ScheduledAt, s.ChangedAt, s.PreviousStart, s.RescheduledAt = fromMS(scheduled), fromMS(changed), fromMS(prevStart), fromMS(rescheduled)
	return class.Restore(s)
}

// Class implements application.ReadTx.
func (t *readTx) Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	c, err := scanClass(t.q.QueryRowContext(ctx, qClass, siteID.String(), id.String()))
	return c, notFound(err, "class", id.String())
}

const enrollmentCols = `site_id, id, class_id, participant_id, position, enrolled_at, seated_at, ended_at, class_moved_at,
	state, version`

func scanEnrollment(row interface{ Scan(...any) error }) (*enrollment.Enrollment, error) {
	var s enrollment.Snapshot
	var at, seated, ended, moved int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.ClassID, &s.ParticipantID, &s.Position, &at, &seated, &ended, &moved,
		&s.State, &s.Version); err != nil {
		return nil, err
	}
	s.EnrolledAt, s.SeatedAt, s.EndedAt, s.ClassMovedAt = fromMS(at), fromMS(seated), fromMS(ended), fromMS(moved)
	return enrollment.Restore(s)
}

// Enrollment implements application.ReadTx.
func (t *readTx) Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEnrollment(t.q.QueryRowContext(ctx, qEnrollment, siteID.String(), id.String()))
	return e, notFound(err, "enrollment", id.String())
}

// ActiveEnrollment implements application.ReadTx.
func (t *readTx) ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEnrollment(t.q.QueryRowContext(ctx, qActiveEnrollment, siteID.String(), classID.String(), participantID.String()))
	return e, notFound(err, "active enrollment of participant "+participantID.String()+" in class", classID.String())
}

// ActiveEnrollments implements application.ReadTx.
func (t *readTx) ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.QueryContext(ctx, qActiveEnrollments, siteID.String(), classID.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: active enrollments of class %s: %w", classID, err)
	}
	defer rows.Close()
	out := []*enrollment.Enrollment{}
	for rows.Next() {
		e, err := scanEnrollment(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: active enrollments of class %s: %w", classID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: active enrollments of class %s: %w", classID, err)
	}
	return out, nil
}

// OldestWaitlisted implements application.ReadTx.
func (t *readTx) OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEnrollment(t.q.QueryRowContext(ctx, qOldestWaitlisted, siteID.String(), classID.String()))
	return e, notFound(err, "waitlisted enrollment of class", classID.String())
}

// notFound maps sql.ErrNoRows to application.ErrNotFound and wraps other
// errors with what was being read.
func notFound(err error, what, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s %s: %w", what, id, application.ErrNotFound)
	}
	return fmt.Errorf("sqlite: read %s %s: %w", what, id, err)
}

// The queries of application.Pages: by primary key, from after on.
const (
	qAppointmentsAfter = `SELECT ` + appointmentCols + ` FROM appointments WHERE site_id = ? AND id > ? ORDER BY id LIMIT ?`
	qEnrollmentsAfter  = `SELECT ` + enrollmentCols + ` FROM enrollments WHERE site_id = ? AND id > ? ORDER BY id LIMIT ?`
	qSiteAfter         = `SELECT min(s) FROM (SELECT min(site_id) AS s FROM appointments WHERE site_id > ?1
		UNION ALL SELECT min(site_id) FROM enrollments WHERE site_id > ?1
		UNION ALL SELECT min(site_id) FROM course_enrollments WHERE site_id > ?1)`
)

// AppointmentsAfter implements application.Pages.
func (t *readTx) AppointmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*appointment.Appointment, error) {
	out := []*appointment.Appointment{}
	err := t.each(ctx, qAppointmentsAfter, []any{siteID.String(), after.String(), limit}, func(r *sql.Rows) error {
		a, err := scanAppointment(r)
		out = append(out, a)
		return err
	})
	return out, err
}

// EnrollmentsAfter implements application.Pages.
func (t *readTx) EnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*enrollment.Enrollment, error) {
	out := []*enrollment.Enrollment{}
	err := t.each(ctx, qEnrollmentsAfter, []any{siteID.String(), after.String(), limit}, func(r *sql.Rows) error {
		e, err := scanEnrollment(r)
		out = append(out, e)
		return err
	})
	return out, err
}

// SiteAfter implements application.Pages: three index seeks.
func (t *readTx) SiteAfter(ctx context.Context, after domain.SiteID) (domain.SiteID, error) {
	if err := t.check(ctx); err != nil {
		return domain.SiteID{}, err
	}
	var site sql.NullString
	if err := t.q.QueryRowContext(ctx, qSiteAfter, after.String()).Scan(&site); err != nil {
		return domain.SiteID{}, fmt.Errorf("sqlite: next site: %w", err)
	}
	if !site.Valid {
		return domain.SiteID{}, application.ErrNotFound
	}
	return domain.ParseSiteID(site.String)
}

// each runs a read and calls fn for each row.
func (t *readTx) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	if err := queryEach(t.q, query, args, fn); err != nil {
		return fmt.Errorf("sqlite: read pages: %w", err)
	}
	return nil
}
