package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/bookable/lifecycle/application"
)

// PanicError is returned to the caller whose function panicked: an Update's
// function (which runs on the caller's goroutine, or in the writer when it
// runs again after a conflict) or a write run in the writer. The panic is
// confined to that caller: nothing of its transaction is written, and in
// the writer its savepoint is rolled back and the other writes of the batch
// commit.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("sqlite: write function panicked: %v\n%s", e.Value, e.Stack)
}

// job is one write waiting for the writer: either a function to run (an
// outbox operation, or an Update running in the writer) or the write set of
// an Update staged on its caller's goroutine.
type job struct {
	ctx   context.Context
	fn    func(ctx context.Context, q *writeConn) error // nil for a write set
	ops   []writeOp                                     // the write set
	done  chan error
	state atomic.Int32 // jobQueued, then jobTaken by the writer or jobAbandoned by the caller
}

// The states of a job: whoever moves it out of jobQueued first decides
// whether it runs.
const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

// writer is the goroutine that owns the write connection. It gathers the
// jobs that are waiting into one transaction (group commit): each job runs in
// its own savepoint, so a failing job rolls back alone, and every job of the
// batch learns its result only after the one COMMIT is durable.
type writer struct {
	conn     *writeConn
	maxBatch int
	jobs     chan *job // the queue; its length is the number of writes waiting
	quit     chan struct{}
	exited   chan struct{}
	stopOnce sync.Once

	// sending is held (shared) while a job is put in the queue and taken
	// (exclusive) by stop, so that no job enters the queue after the writer
	// drained it for the last time.
	sending sync.RWMutex
	closing bool

	batches, writes, maxSeen atomic.Int64
	running                  atomic.Bool // a batch is being run

	// refuse, when set, answers every write at once: the writer of a
	// read-only DB, which has no connection and runs no goroutine.
	refuse error
}

// refusingWriter returns the writer of a read-only DB: every write gets err.
func refusingWriter(err error) *writer {
	w := &writer{refuse: err, quit: make(chan struct{}), exited: make(chan struct{})}
	close(w.exited)
	return w
}

func startWriter(conn *sql.Conn, maxBatch int) *writer {
	w := &writer{
		conn:     &writeConn{conn: conn, stmts: map[string]*sql.Stmt{}},
		maxBatch: maxBatch,
		jobs:     make(chan *job, maxBatch),
		quit:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go w.loop()
	return w
}

// do runs fn in the writer and returns its result once its batch has
// committed (or rolled back). A ctx canceled before fn runs returns at once
// with ctx.Err() and fn never runs; canceled while fn runs, do waits for the
// batch and returns ctx.Err() with fn's writes rolled back. So a nil error
// always means durable, and an error always means nothing of fn was written.
func (w *writer) do(ctx context.Context, fn func(ctx context.Context, q *writeConn) error) error {
	return w.submit(&job{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// apply applies a staged write set in the writer, with the same answers as
// do: a nil error once it is durable, an error when nothing of it was
// written. A conflict (a changed version, an existing ID) is ErrConflict.
func (w *writer) apply(ctx context.Context, ops []writeOp) error {
	return w.submit(&job{ctx: ctx, ops: ops, done: make(chan error, 1)})
}

func (w *writer) submit(j *job) error {
	ctx := j.ctx
	if err := ctx.Err(); err != nil {
		return err
	}
	w.sending.RLock()
	if w.closing {
		w.sending.RUnlock()
		return ErrClosed
	}
	if w.refuse != nil {
		w.sending.RUnlock()
		return w.refuse
	}
	select {
	case w.jobs <- j:
		w.sending.RUnlock()
	case <-ctx.Done():
		w.sending.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err() // the writer will skip it
		}
		return <-j.done // it runs or ran: wait for the verdict
	}
}

// stop ends the loop after its current batch, answers the writes still
// queued with ErrClosed, and closes the connection. It reports whether this
// call did it.
func (w *writer) stop() bool {
	first := false
	w.stopOnce.Do(func() {
		first = true
		w.sending.Lock() // waits for senders blocked on a full queue: the loop still drains it
		w.closing = true
		w.sending.Unlock()
		close(w.quit)
		<-w.exited
		for {
			select {
			case j := <-w.jobs:
				j.done <- ErrClosed
			default:
				if w.conn != nil {
					w.conn.close()
				}
				return
			}
		}
	})
	return first
}

// idle reports whether the writer has nothing to do: no batch running and
// none waiting.
func (w *writer) idle() bool { return !w.running.Load() && len(w.jobs) == 0 }

// closed reports whether stop has begun.
func (w *writer) closed() bool {
	w.sending.RLock()
	defer w.sending.RUnlock()
	return w.closing
}

func (w *writer) stats() WriterStats {
	return WriterStats{Batches: w.batches.Load(), Writes: w.writes.Load(), MaxBatch: w.maxSeen.Load(),
		Waiting: int64(len(w.jobs))}
}

func (w *writer) loop() {
	defer close(w.exited)
	batch := make([]*job, 0, w.maxBatch)
	for {
		select {
		case j := <-w.jobs:
			batch = append(batch[:0], j)
		case <-w.quit:
			return
		}
	gather:
		for len(batch) < w.maxBatch {
			select {
			case j := <-w.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		w.running.Store(true)
		w.run(batch)
		w.running.Store(false)
		clear(batch)
	}
}

// run executes one batch in one transaction and answers every job. A batch
// of one job needs no savepoint: when the job fails, the whole transaction
// rolls back. In a larger batch each function job runs in its own
// savepoint, and consecutive write sets are applied together (see
// applyWriteSets).
func (w *writer) run(batch []*job) {
	w.batches.Add(1)
	w.writes.Add(int64(len(batch)))
	if n := int64(len(batch)); n > w.maxSeen.Load() {
		w.maxSeen.Store(n) // only the writer goroutine stores
	}
	results := make([]error, len(batch))
	savepoints := len(batch) > 1
	ran, failed := 0, false
	fatal := w.conn.execRaw("BEGIN IMMEDIATE")
	for ran < len(batch) && fatal == nil && !failed {
		j := batch[ran]
		if j.fn == nil && savepoints {
			end := ran + 1
			for end < len(batch) && batch[end].fn == nil {
				end++
			}
			fatal = w.applyWriteSets(batch[ran:end], results[ran:end])
			ran = end
			continue
		}
		ran++
		if !take(j) {
			results[ran-1] = j.ctx.Err()
			continue
		}
		if !savepoints {
			results[ran-1] = w.runJob(j)
			failed = results[ran-1] != nil
			continue
		}
		if fatal = w.conn.execRaw("SAVEPOINT job"); fatal != nil {
			break
		}
		if err := w.runJob(j); err != nil {
			results[ran-1] = err
			if fatal = w.conn.execRaw("ROLLBACK TO job"); fatal != nil {
				break
			}
		}
		fatal = w.conn.execRaw("RELEASE job")
	}
	if fatal == nil {
		if failed {
			fatal = w.conn.execRaw("ROLLBACK")
		} else {
			fatal = w.conn.execRaw("COMMIT")
		}
	}
	if fatal != nil {
		// SQLite may already have rolled back (disk full, I/O error);
		// a failing ROLLBACK then only says so.
		_ = w.conn.execRaw("ROLLBACK")
	}
	for i, j := range batch {
		err := results[i]
		if fatal != nil && (err == nil || i >= ran) {
			err = fmt.Errorf("sqlite: write batch rolled back: %w", fatal)
		}
		j.done <- err
	}
}

// take claims a job for running; it fails when the caller gave up first.
func take(j *job) bool {
	return j.ctx.Err() == nil && j.state.CompareAndSwap(jobQueued, jobTaken)
}

// runJob runs a job taken by the writer: its function, or its write set
// applied one write after the other. A caller that gave up meanwhile gets
// its context's error, so the error always means "not written".
func (w *writer) runJob(j *job) error {
	var err error
	if j.fn != nil {
		err = w.call(j)
	} else {
		err = applyOps(w.conn, j.ops)
	}
	if err == nil {
		err = j.ctx.Err()
	}
	return err
}

// applyWriteSets applies consecutive write sets of a batch in one
// savepoint, without one savepoint each: their writes are known in advance,
// so a write set that fails can be applied again. Each write set's
// aggregate writes run in order; a conflict on its first aggregate write
// wrote nothing and fails that write set alone. Then the calls of every
// write set that succeeded go to the outbox in a few multi-row INSERTs
// (insertCalls). Anything else (a conflict after a write set already wrote,
// a failing INSERT of calls, a caller that gave up meanwhile) rolls the
// savepoint back and applies the write sets again one savepoint each.
func (w *writer) applyWriteSets(jobs []*job, results []error) (fatal error) {
	taken := make([]bool, len(jobs))
	for i, j := range jobs {
		if taken[i] = take(j); !taken[i] {
			results[i] = j.ctx.Err()
		}
	}
	if fatal = w.conn.execRaw("SAVEPOINT writes"); fatal != nil {
		return fatal
	}
	if w.applyTogether(jobs, taken, results) {
		return w.conn.execRaw("RELEASE writes")
	}
	if fatal = w.conn.execRaw("ROLLBACK TO writes"); fatal != nil {
		return fatal
	}
	for i, j := range jobs {
		if !taken[i] {
			continue
		}
		if fatal = w.conn.execRaw("SAVEPOINT job"); fatal != nil {
			return fatal
		}
		if results[i] = w.runJob(j); results[i] != nil {
			if fatal = w.conn.execRaw("ROLLBACK TO job"); fatal != nil {
				return fatal
			}
		}
		if fatal = w.conn.execRaw("RELEASE job"); fatal != nil {
			return fatal
		}
	}
	return w.conn.execRaw("RELEASE writes")
}

// applyTogether is the fast way of applyWriteSets. It reports false when
// the write sets must be applied again one by one.
func (w *writer) applyTogether(jobs []*job, taken []bool, results []error) bool {
	var calls []application.Call
	for i, j := range jobs {
		if !taken[i] {
			continue
		}
		mark, wrote := len(calls), false
		for _, op := range j.ops {
			if c, ok := op.(callsWrite); ok {
				calls = append(calls, c...)
				continue
			}
			if err := op.apply(w.conn); err != nil {
				if wrote || !errors.Is(err, application.ErrConflict) {
					return false
				}
				results[i], calls = err, calls[:mark]
				break
			}
			wrote = true
		}
	}
	if err := insertCalls(w.conn, calls); err != nil {
		return false
	}
	for i, j := range jobs {
		if taken[i] && results[i] == nil && j.ctx.Err() != nil {
			return false
		}
	}
	return true
}

// call runs one job's function, turning a panic into a *PanicError.
func (w *writer) call(j *job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return j.fn(j.ctx, w.conn)
}

// writeConn is the write connection with its prepared statements. Only the
// writer goroutine uses it. Statements run with a context that is never
// canceled: interrupting a statement inside the shared transaction could
// roll back every job of the batch, so a job's own context is checked
// between statements instead (see writeTx).
type writeConn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (c *writeConn) stmt(query string) (*sql.Stmt, error) {
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

func (c *writeConn) execRaw(query string) error {
	_, err := c.ExecContext(context.Background(), query)
	return err
}

// ExecContext runs a cached prepared statement.
func (c *writeConn) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(context.Background(), args...)
}

// QueryContext runs a cached prepared query.
func (c *writeConn) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(context.Background(), args...)
}

// QueryRowContext runs a cached prepared query for one row.
func (c *writeConn) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(query)
	if err != nil {
		// An invalid query is a programming error; surface it through Scan
		// by running it unprepared.
		return c.conn.QueryRowContext(context.Background(), query, args...)
	}
	return s.QueryRowContext(context.Background(), args...)
}

func (c *writeConn) close() {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.Close())
	}
	errs = append(errs, c.conn.Close())
	_ = errors.Join(errs...) // nothing useful to do with a close error here
}
