package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// PanicError is returned to the caller whose write function panicked. The
// panic is confined to that caller: its savepoint is rolled back and the
// other writes of the batch commit.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("sqlite: write function panicked: %v\n%s", e.Value, e.Stack)
}

// job is one write waiting for the writer: a command's Update or an outbox
// operation.
type job struct {
	ctx   context.Context
	fn    func(ctx context.Context, q *writeConn) error
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
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w.sending.RLock()
	if w.closing {
		w.sending.RUnlock()
		return ErrClosed
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
				w.conn.close()
				return
			}
		}
	})
	return first
}

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
		w.run(batch)
		clear(batch)
	}
}

// run executes one batch in one transaction and answers every job. A batch
// of one job needs no savepoint: when the job fails, the whole transaction
// rolls back.
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
	if fatal == nil {
		for i, j := range batch {
			ran = i + 1
			if err := j.ctx.Err(); err != nil || !j.state.CompareAndSwap(jobQueued, jobTaken) {
				results[i] = j.ctx.Err()
				continue
			}
			if savepoints {
				if fatal = w.conn.execRaw("SAVEPOINT job"); fatal != nil {
					break
				}
			}
			err := w.call(j)
			if err == nil {
				// A caller that gave up while its function ran gets its
				// context's error, so the error always means "not written".
				err = j.ctx.Err()
			}
			if err != nil {
				results[i] = err
				if !savepoints {
					failed = true
					break
				}
				if fatal = w.conn.execRaw("ROLLBACK TO job"); fatal != nil {
					break
				}
			}
			if savepoints {
				if fatal = w.conn.execRaw("RELEASE job"); fatal != nil {
					break
				}
			}
		}
		switch {
		case fatal == nil && failed:
			fatal = w.conn.execRaw("ROLLBACK")
		case fatal == nil:
			fatal = w.conn.execRaw("COMMIT")
		}
		if fatal != nil {
			// SQLite may already have rolled back (disk full, I/O error);
			// a failing ROLLBACK then only says so.
			_ = w.conn.execRaw("ROLLBACK")
		}
	}
	for i, j := range batch {
		err := results[i]
		if fatal != nil && (err == nil || i >= ran) {
			err = fmt.Errorf("sqlite: write batch rolled back: %w", fatal)
		}
		j.done <- err
	}
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
