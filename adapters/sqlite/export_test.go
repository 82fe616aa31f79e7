package sqlite

import "context"

// HoldWriter occupies the writer with a write that waits until release is
// called, so that the writes started meanwhile queue up and are gathered
// into one batch. release returns the held write's result.
func HoldWriter(db *DB) (release func() error) {
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.w.do(context.Background(), func(context.Context, *writeConn) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() error {
		close(unblock)
		return <-done
	}
}

// StageAlways makes every Update of db run its function on the caller's
// goroutine against a snapshot, even when the writer is idle.
func StageAlways(db *DB) { db.stageAlways = true }

// AfterLease makes every Claim of db run f between committing its lease and
// reading the leased calls.
func AfterLease(db *DB, f func()) { db.afterLease = f }
