package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/application"
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

// Update runs fn in the writer goroutine, inside its own savepoint of a
// transaction that may hold other concurrent commands too. It returns fn's
// error (nothing of fn is written) or nil once the commit is durable. fn must
// not call Update or View on the same DB, and must not keep or share tx:
// it runs while every other write of the process waits.
func (db *DB) Update(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error) error {
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		t := &writeTx{readTx: readTx{q: c}, db: db}
		defer t.end()
		return fn(ctx, t)
	})
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

const appointmentCols = `site_id, id, contact_id, title, start_at, end_at, state, cancel_reason, version`

func scanAppointment(row interface{ Scan(...any) error }) (*appointment.Appointment, error) {
	var s appointment.Snapshot
	var start, end int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.ContactID, &s.Title, &start, &end, &s.State, &s.CancelReason, &s.Version); err != nil {
		return nil, err
	}
	s.Start, s.End = fromMS(start), fromMS(end)
	return appointment.Restore(s)
}

// Appointment implements application.ReadTx.
func (t *readTx) Appointment(ctx context.Context, siteID, id string) (*appointment.Appointment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	a, err := scanAppointment(t.q.QueryRowContext(ctx,
		`SELECT `+appointmentCols+` FROM appointments WHERE site_id = ? AND id = ?`, siteID, id))
	return a, notFound(err, "appointment", id)
}

const classCols = `site_id, id, title, start_at, end_at, capacity, waitlist, enrolled, waitlisted, admissions, state, cancel_reason, version`

func scanClass(row interface{ Scan(...any) error }) (*class.Class, error) {
	var s class.Snapshot
	var start, end int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.Title, &start, &end, &s.Capacity, &s.Waitlist, &s.Enrolled,
		&s.Waitlisted, &s.Admissions, &s.State, &s.CancelReason, &s.Version); err != nil {
		return nil, err
	}
	s.Start, s.End = fromMS(start), fromMS(end)
	return class.Restore(s)
}

// Class implements application.ReadTx.
func (t *readTx) Class(ctx context.Context, siteID, id string) (*class.Class, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	c, err := scanClass(t.q.QueryRowContext(ctx,
		`SELECT `+classCols+` FROM classes WHERE site_id = ? AND id = ?`, siteID, id))
	return c, notFound(err, "class", id)
}

const enrollmentCols = `site_id, id, class_id, participant_id, position, enrolled_at, state, version`

func scanEnrollment(row interface{ Scan(...any) error }) (*enrollment.Enrollment, error) {
	var s enrollment.Snapshot
	var at int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.ClassID, &s.ParticipantID, &s.Position, &at, &s.State, &s.Version); err != nil {
		return nil, err
	}
	s.EnrolledAt = fromMS(at)
	return enrollment.Restore(s)
}

// Enrollment implements application.ReadTx.
func (t *readTx) Enrollment(ctx context.Context, siteID, id string) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEnrollment(t.q.QueryRowContext(ctx,
		`SELECT `+enrollmentCols+` FROM enrollments WHERE site_id = ? AND id = ?`, siteID, id))
	return e, notFound(err, "enrollment", id)
}

// ActiveEnrollment implements application.ReadTx.
func (t *readTx) ActiveEnrollment(ctx context.Context, siteID, classID, participantID string) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEnrollment(t.q.QueryRowContext(ctx, `SELECT `+enrollmentCols+` FROM enrollments
		WHERE site_id = ? AND class_id = ? AND participant_id = ? AND state IN ('enrolled', 'waitlisted')`,
		siteID, classID, participantID))
	return e, notFound(err, "active enrollment of participant "+participantID+" in class", classID)
}

// ActiveEnrollments implements application.ReadTx.
func (t *readTx) ActiveEnrollments(ctx context.Context, siteID, classID string) ([]*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+enrollmentCols+` FROM enrollments
		WHERE site_id = ? AND class_id = ? AND state IN ('enrolled', 'waitlisted') ORDER BY position`,
		siteID, classID)
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
func (t *readTx) OldestWaitlisted(ctx context.Context, siteID, classID string) (*enrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEnrollment(t.q.QueryRowContext(ctx, `SELECT `+enrollmentCols+` FROM enrollments
		WHERE site_id = ? AND class_id = ? AND state = 'waitlisted' ORDER BY position LIMIT 1`,
		siteID, classID))
	return e, notFound(err, "waitlisted enrollment of class", classID)
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

// writeTx implements application.Tx inside the writer's transaction.
type writeTx struct {
	readTx
	db *DB
}

// SaveAppointment implements application.Tx.
func (t *writeTx) SaveAppointment(ctx context.Context, a *appointment.Appointment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := a.Snapshot()
	var err error
	if s.Version == 0 {
		_, err = t.q.ExecContext(ctx, `INSERT INTO appointments (`+appointmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			s.SiteID, s.ID, s.ContactID, s.Title, toMS(s.Start), toMS(s.End), s.State, s.CancelReason)
	} else {
		err = t.updated(t.q.ExecContext(ctx, `UPDATE appointments SET contact_id = ?, title = ?, start_at = ?, end_at = ?,
			state = ?, cancel_reason = ?, version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`,
			s.ContactID, s.Title, toMS(s.Start), toMS(s.End), s.State, s.CancelReason, s.SiteID, s.ID, s.Version))
	}
	if err := saved(err, "appointment", s.ID, s.Version); err != nil {
		return err
	}
	a.SetVersion(s.Version + 1)
	return nil
}

// SaveClass implements application.Tx.
func (t *writeTx) SaveClass(ctx context.Context, c *class.Class) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := c.Snapshot()
	var err error
	if s.Version == 0 {
		_, err = t.q.ExecContext(ctx, `INSERT INTO classes (`+classCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			s.SiteID, s.ID, s.Title, toMS(s.Start), toMS(s.End), s.Capacity, s.Waitlist, s.Enrolled, s.Waitlisted,
			s.Admissions, s.State, s.CancelReason)
	} else {
		err = t.updated(t.q.ExecContext(ctx, `UPDATE classes SET title = ?, start_at = ?, end_at = ?, capacity = ?,
			waitlist = ?, enrolled = ?, waitlisted = ?, admissions = ?, state = ?, cancel_reason = ?,
			version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`,
			s.Title, toMS(s.Start), toMS(s.End), s.Capacity, s.Waitlist, s.Enrolled, s.Waitlisted, s.Admissions,
			s.State, s.CancelReason, s.SiteID, s.ID, s.Version))
	}
	if err := saved(err, "class", s.ID, s.Version); err != nil {
		return err
	}
	c.SetVersion(s.Version + 1)
	return nil
}

// SaveEnrollment implements application.Tx. A second active enrollment of
// the same participant in the same class violates a unique index and is
// ErrConflict.
func (t *writeTx) SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := e.Snapshot()
	var err error
	if s.Version == 0 {
		_, err = t.q.ExecContext(ctx, `INSERT INTO enrollments (`+enrollmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
			s.SiteID, s.ID, s.ClassID, s.ParticipantID, s.Position, toMS(s.EnrolledAt), s.State)
	} else {
		err = t.updated(t.q.ExecContext(ctx, `UPDATE enrollments SET class_id = ?, participant_id = ?, position = ?,
			enrolled_at = ?, state = ?, version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`,
			s.ClassID, s.ParticipantID, s.Position, toMS(s.EnrolledAt), s.State, s.SiteID, s.ID, s.Version))
	}
	if err := saved(err, "enrollment", s.ID, s.Version); err != nil {
		return err
	}
	e.SetVersion(s.Version + 1)
	return nil
}

// errStale marks an optimistic update that matched no row.
var errStale = errors.New("stale version")

// updated turns an UPDATE that matched no row into errStale.
func (t *writeTx) updated(res sql.Result, err error) error {
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

// saved maps the outcome of a Save to the port's errors.
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
