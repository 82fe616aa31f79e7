package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFailedCommitFailsEveryCallerOfTheBatch makes the COMMIT of a batch
// fail (a deferred foreign key violation is only checked at COMMIT) and
// checks that every write of the batch gets the error and none is kept.
func TestFailedCommitFailsEveryCallerOfTheBatch(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "commit.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	// Hold the writer so that the two writes below share a batch.
	started, unblock, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- db.w.do(ctx, func(context.Context, *writeConn) error { close(started); <-unblock; return nil })
	}()
	<-started

	var wg sync.WaitGroup
	errs := make([]error, 2)
	writes := []func(context.Context, *writeConn) error{
		func(ctx context.Context, c *writeConn) error { // a good write
			_, err := c.ExecContext(ctx, `INSERT INTO outbox_heads (seq, ordering_key, ready_at) VALUES (1, 'k', 0)`)
			return err
		},
		func(ctx context.Context, c *writeConn) error { // poisons the COMMIT
			if _, err := c.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
				return err
			}
			_, err := c.ExecContext(ctx, `INSERT INTO outbox_attempts (call_id, at, state) VALUES ('no such call', 0, 'dead')`)
			return err
		},
	}
	for i, w := range writes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = db.w.do(ctx, w) }()
	}
	require.Eventually(t, func() bool { return len(db.w.jobs) == 2 }, 20*time.Second, time.Millisecond)
	close(unblock)
	require.NoError(t, <-held)
	wg.Wait()
	require.Equal(t, int64(2), db.w.maxSeen.Load(), "both writes were in one batch")
	for i, err := range errs {
		require.Error(t, err, "write %d", i)
		assert.Contains(t, err.Error(), "FOREIGN KEY", "write %d", i)
	}
	var heads int
	require.NoError(t, db.read.QueryRowContext(ctx, `SELECT count(*) FROM outbox_heads`).Scan(&heads))
	assert.Zero(t, heads, "the good write of the failed batch was not kept")

	// The writer goes on.
	require.NoError(t, db.w.do(ctx, writes[0]))
	require.NoError(t, db.read.QueryRowContext(ctx, `SELECT count(*) FROM outbox_heads`).Scan(&heads))
	assert.Equal(t, 1, heads)
}
