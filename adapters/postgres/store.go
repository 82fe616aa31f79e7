package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// errTxDone is returned by a transaction used after its function returned.
var errTxDone = errors.New("postgres: transaction used after its function returned")

// PanicError is what Update returns when its function panicked; the
// transaction wrote nothing.
type PanicError struct {
	Value any
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string {
	return fmt.Sprintf("postgres: transaction panicked: %v", e.Value)
}

const beginRead = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`

// Update runs fn as one command and returns fn's error (nothing is written)
// or nil once its writes are committed and durable.
//
// fn's reads see one consistent snapshot (a REPEATABLE READ READ ONLY
// transaction begun at its first read) together with its own saves; its
// saves and enqueues are staged. When fn returns nil they are sent in one
// round trip, in a READ COMMITTED transaction: the advisory locks of the
// calls' ordering keys, the aggregates' writes with their version checks,
// the idempotency records, the calls, and COMMIT. An aggregate whose
// version moved since the snapshot, an ID that exists, a second active
// enrollment or a live idempotency key is application.ErrConflict, and
// nothing is written; the application runs the command again.
//
// A save sets the aggregate's version to the one it will write; when the
// transaction does not commit, every saved aggregate gets its version back.
// A panic in fn becomes a *PanicError. fn must not keep or share tx.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	t, conflicted, err := s.run(ctx, conn.Conn(), fn, false)
	if conflicted {
		t, _, err = s.run(ctx, conn.Conn(), fn, true)
	}
	if err != nil {
		return err
	}
	if len(t.calls) > 0 {
		s.wake.changed()
	}
	return nil
}

// run runs fn once and commits what it staged. conflicted reports that the
// commit met a conflict (the writes were checked against versions that had
// moved). A locked run (after such a conflict) reads in the write
// transaction, each aggregate read by ID under its advisory lock, so that
// the runs of commands that contend for one aggregate (twenty enrollments
// in one class) take turns instead of failing each other again; the locks
// assign no transaction ID, so the seqs still follow the key locks.
func (s *Store) run(ctx context.Context, conn *pgx.Conn, fn func(ctx context.Context, tx application.Tx) error, locked bool) (*tx, bool, error) {
	t := &tx{readTx: readTx{s: s, conn: conn, locked: locked}}
	err := callUpdate(ctx, fn, t)
	t.done = true
	if err == nil {
		err = ctx.Err()
	}
	conflicted := false
	if err == nil {
		err = t.commit(ctx)
		conflicted = errors.Is(err, application.ErrConflict)
	}
	if err != nil {
		t.rollback()
		t.rollbackVersions()
		return t, conflicted && !locked, err
	}
	return t, false, nil
}

// qLockAggregate takes an aggregate's advisory lock (a locked run).
const qLockAggregate = `SELECT pg_advisory_xact_lock($1)`

// aggregateLock returns the advisory lock key of an aggregate.
func (t *readTx) aggregateLock(table, siteID, id string) int64 {
	return t.s.lockKeys([]string{"aggregate/" + table + "/" + siteID + "/" + id})[0]
}

// queryAggregate reads one aggregate by ID, under its lock in a locked run.
func (t *readTx) queryAggregate(ctx context.Context, table, siteID, id, sql string, scan func(pgx.Rows) error) error {
	found := false
	each := func(r pgx.Rows) error {
		found = true
		return scan(r)
	}
	var err error
	if t.locked {
		err = t.queryAfter(ctx, qLockAggregate, []any{t.aggregateLock(table, siteID, id)}, sql, []any{siteID, id}, each)
	} else {
		err = t.query(ctx, sql, []any{siteID, id}, each)
	}
	if err == nil && !found {
		return pgx.ErrNoRows
	}
	return err
}

// callUpdate runs fn, turning a panic into a *PanicError.
func callUpdate(ctx context.Context, fn func(ctx context.Context, tx application.Tx) error, t *tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, t)
}

// View runs fn on one consistent snapshot (REPEATABLE READ READ ONLY).
func (s *Store) View(ctx context.Context, fn func(ctx context.Context, tx application.ReadTx) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	t := &readTx{s: s, conn: conn.Conn()}
	err = fn(ctx, t)
	t.done = true
	t.rollback()
	return err
}

// readTx implements application.ReadTx on one connection: its first read
// begins a REPEATABLE READ READ ONLY transaction, sent with that read in
// one round trip.
type readTx struct {
	s     *Store
	conn  *pgx.Conn
	begun bool
	done  bool
	// locked: a run of Update after a conflict, whose reads of an aggregate
	// by ID take that aggregate's advisory lock first, in the write
	// transaction (see Store.Update).
	locked bool
}

func (t *readTx) check(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	return ctx.Err()
}

// rollback ends the read transaction, if any. A connection that cannot is
// closed (the pool then drops it).
func (t *readTx) rollback() {
	if !t.begun {
		return
	}
	t.begun = false
	if _, err := t.conn.Exec(context.Background(), "ROLLBACK"); err != nil {
		_ = t.conn.Close(context.Background())
	}
}

// query runs a read and calls each for every row.
func (t *readTx) query(ctx context.Context, sql string, args []any, each func(pgx.Rows) error) error {
	return t.queryAfter(ctx, "", nil, sql, args, each)
}

// queryAfter runs the statement prelude (if any), then the read in a
// statement of its own (a snapshot taken after the prelude), in one round
// trip, beginning the transaction first if need be.
func (t *readTx) queryAfter(ctx context.Context, prelude string, preArgs []any, sql string, args []any, each func(pgx.Rows) error) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue(t.beginSQL())
		t.begun = true
	}
	if prelude != "" {
		b.Queue(prelude, preArgs...)
	}
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	for range b.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return err
	}
	for rows.Next() {
		if err := each(rows); err != nil {
			rows.Close()
			_ = br.Close()
			return err
		}
	}
	rows.Close()
	return errors.Join(rows.Err(), br.Close())
}

// beginSQL begins the transaction of the reads: a read-only snapshot, or
// for a locked run of Update the write transaction itself.
func (t *readTx) beginSQL() string {
	if t.locked {
		return "BEGIN"
	}
	return beginRead
}

// queryOne runs a read of at most one row into scan; no row is
// pgx.ErrNoRows.
func (t *readTx) queryOne(ctx context.Context, sql string, args []any, scan func(pgx.Rows) error) error {
	found := false
	err := t.query(ctx, sql, args, func(r pgx.Rows) error {
		found = true
		return scan(r)
	})
	if err == nil && !found {
		return pgx.ErrNoRows
	}
	return err
}

// notFound maps pgx.ErrNoRows to application.ErrNotFound and wraps other
// errors with what was being read.
func notFound(err error, what, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s %s: %w", what, id, application.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errTxDone):
		return err
	}
	return fmt.Errorf("postgres: read %s %s: %w", what, id, err)
}

// The conditions of an active enrollment and of a waitlisted one, built from
// the domain's definition (enrollment.ActiveStates). The first is also the
// WHERE of the partial indexes enrollments_one_active and
// enrollments_active_by_position in the migrations;
// TestIndexConditionsFollowTheDomain proves the two equal.
var (
	activeEnrollment     = "state IN (" + sqlStrings(enrollment.ActiveStates()) + ")"
	waitlistedEnrollment = "state = " + sqlStrings([]enrollment.State{enrollment.StateWaitlisted})
)

// sqlStrings returns the names of states as SQL string literals.
func sqlStrings[S fmt.Stringer](states []S) string {
	quoted := make([]string, len(states))
	for i, s := range states {
		quoted[i] = "'" + strings.ReplaceAll(s.String(), "'", "''") + "'"
	}
	return strings.Join(quoted, ", ")
}

const (
	appointmentCols = `site_id, id, contact_id, title, start_at, end_at, state, cancel_reason,
	booked_at, changed_at, previous_start_at, rescheduled_at, version`
	classCols = `site_id, id, title, start_at, end_at, capacity, waitlist, enrolled, waitlisted, admissions, state,
	cancel_reason, scheduled_at, changed_at, previous_start_at, rescheduled_at, version`
	enrollmentCols = `site_id, id, class_id, participant_id, position, enrolled_at, seated_at, ended_at, class_moved_at,
	state, version`
)

var (
	qAppointment      = `SELECT ` + appointmentCols + ` FROM appointments WHERE site_id = $1 AND id = $2`
	qClass            = `SELECT ` + classCols + ` FROM classes WHERE site_id = $1 AND id = $2`
	qEnrollment       = `SELECT ` + enrollmentCols + ` FROM enrollments WHERE site_id = $1 AND id = $2`
	qActiveEnrollment = `SELECT ` + enrollmentCols + ` FROM enrollments
		WHERE site_id = $1 AND class_id = $2 AND participant_id = $3 AND ` + activeEnrollment
	qActiveEnrollments = `SELECT ` + enrollmentCols + ` FROM enrollments
		WHERE site_id = $1 AND class_id = $2 AND ` + activeEnrollment + ` ORDER BY position`
	qOldestWaitlisted = `SELECT ` + enrollmentCols + ` FROM enrollments
		WHERE site_id = $1 AND class_id = $2 AND ` + waitlistedEnrollment + ` ORDER BY position LIMIT 1`
)

func scanAppointment(row pgx.Rows) (*appointment.Appointment, error) {
	var s appointment.Snapshot
	var start, end, booked, changed, prev, resched pgtype.Timestamptz
	if err := row.Scan(&s.SiteID, &s.ID, &s.ContactID, &s.Title, &start, &end, &s.State, &s.CancelReason,
		&booked, &changed, &prev, &resched, &s.Version); err != nil {
		return nil, err
	}
	s.Start, s.End = fromTS(start), fromTS(end)
	s.BookedAt, s.ChangedAt, s.PreviousStart, s.RescheduledAt = fromTS(booked), fromTS(changed), fromTS(prev), fromTS(resched)
	return appointment.Restore(s)
}

func scanClass(row pgx.Rows) (*class.Class, error) {
	var s class.Snapshot
	var start, end, scheduled, changed, prev, resched pgtype.Timestamptz
	if err := row.Scan(&s.SiteID, &s.ID, &s.Title, &start, &end, &s.Capacity, &s.Waitlist, &s.Enrolled,
		&s.Waitlisted, &s.Admissions, &s.State, &s.CancelReason, &scheduled, &changed, &prev, &resched,
		&s.Version); err != nil {
		return nil, err
	}
	s.Start, s.End = fromTS(start), fromTS(end)
	s.ScheduledAt, s.ChangedAt, s.PreviousStart, s.RescheduledAt = fromTS(scheduled), fromTS(changed), fromTS(prev), fromTS(resched)
	return class.Restore(s)
}

func scanEnrollment(row pgx.Rows) (*enrollment.Enrollment, error) {
	var s enrollment.Snapshot
	var at, seated, ended, moved pgtype.Timestamptz
	if err := row.Scan(&s.SiteID, &s.ID, &s.ClassID, &s.ParticipantID, &s.Position, &at, &seated, &ended, &moved,
		&s.State, &s.Version); err != nil {
		return nil, err
	}
	s.EnrolledAt, s.SeatedAt, s.EndedAt, s.ClassMovedAt = fromTS(at), fromTS(seated), fromTS(ended), fromTS(moved)
	return enrollment.Restore(s)
}

// Appointment implements application.ReadTx.
func (t *readTx) Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error) {
	var a *appointment.Appointment
	err := t.queryAggregate(ctx, "appointments", siteID.String(), id.String(), qAppointment, func(r pgx.Rows) (err error) {
		a, err = scanAppointment(r)
		return err
	})
	return a, notFound(err, "appointment", id.String())
}

// Class implements application.ReadTx.
func (t *readTx) Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error) {
	var c *class.Class
	err := t.queryAggregate(ctx, "classes", siteID.String(), id.String(), qClass, func(r pgx.Rows) (err error) {
		c, err = scanClass(r)
		return err
	})
	return c, notFound(err, "class", id.String())
}

// Enrollment implements application.ReadTx.
func (t *readTx) Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error) {
	var e *enrollment.Enrollment
	err := t.queryAggregate(ctx, "enrollments", siteID.String(), id.String(), qEnrollment, func(r pgx.Rows) (err error) {
		e, err = scanEnrollment(r)
		return err
	})
	return e, notFound(err, "enrollment", id.String())
}

// ActiveEnrollment implements application.ReadTx.
func (t *readTx) ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error) {
	var e *enrollment.Enrollment
	err := t.queryOne(ctx, qActiveEnrollment, []any{siteID.String(), classID.String(), participantID.String()}, func(r pgx.Rows) (err error) {
		e, err = scanEnrollment(r)
		return err
	})
	return e, notFound(err, "active enrollment of participant "+participantID.String()+" in class", classID.String())
}

// ActiveEnrollments implements application.ReadTx.
func (t *readTx) ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error) {
	out := []*enrollment.Enrollment{}
	err := t.query(ctx, qActiveEnrollments, []any{siteID.String(), classID.String()}, func(r pgx.Rows) error {
		e, err := scanEnrollment(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, notFound(err, "active enrollments of class", classID.String())
	}
	return out, nil
}

// OldestWaitlisted implements application.ReadTx.
func (t *readTx) OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error) {
	var e *enrollment.Enrollment
	err := t.queryOne(ctx, qOldestWaitlisted, []any{siteID.String(), classID.String()}, func(r pgx.Rows) (err error) {
		e, err = scanEnrollment(r)
		return err
	})
	return e, notFound(err, "waitlisted enrollment of class", classID.String())
}

// The queries of application.Pages: by primary key, from after on.
var (
	qAppointmentsAfter = `SELECT ` + appointmentCols + ` FROM appointments WHERE site_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	qEnrollmentsAfter  = `SELECT ` + enrollmentCols + ` FROM enrollments WHERE site_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	qSiteAfter         = `SELECT least((SELECT min(site_id) FROM appointments WHERE site_id > $1),
		(SELECT min(site_id) FROM enrollments WHERE site_id > $1),
		(SELECT min(site_id) FROM course_enrollments WHERE site_id > $1))`
)

// AppointmentsAfter implements application.Pages.
func (t *readTx) AppointmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*appointment.Appointment, error) {
	out := []*appointment.Appointment{}
	err := t.query(ctx, qAppointmentsAfter, []any{siteID.String(), after.String(), limit}, func(r pgx.Rows) error {
		a, err := scanAppointment(r)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read appointments of site %s after %q: %w", siteID, after, err)
	}
	return out, nil
}

// EnrollmentsAfter implements application.Pages.
func (t *readTx) EnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*enrollment.Enrollment, error) {
	out := []*enrollment.Enrollment{}
	err := t.query(ctx, qEnrollmentsAfter, []any{siteID.String(), after.String(), limit}, func(r pgx.Rows) error {
		e, err := scanEnrollment(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read enrollments of site %s after %q: %w", siteID, after, err)
	}
	return out, nil
}

// SiteAfter implements application.Pages: three index seeks (least ignores
// a NULL, so a site found in one table is enough).
func (t *readTx) SiteAfter(ctx context.Context, after domain.SiteID) (domain.SiteID, error) {
	var site pgtype.Text
	err := t.queryOne(ctx, qSiteAfter, []any{after.String()}, func(r pgx.Rows) error { return r.Scan(&site) })
	if err != nil {
		return domain.SiteID{}, fmt.Errorf("postgres: next site: %w", err)
	}
	if !site.Valid {
		return domain.SiteID{}, application.ErrNotFound
	}
	return domain.ParseSiteID(site.String)
}
