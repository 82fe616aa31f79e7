package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/outbox"
)

// TestQueryPlans checks with EXPLAIN QUERY PLAN that every query a command
// or the relay runs finds its rows through an index (or the rowid) and needs
// no temporary sort, so its cost does not grow with the size of the tables.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	tests := []struct {
		name  string
		query string
		want  []string // each must appear in the plan
	}{
		{"claim: lease the heads", qLeaseHeads,
			[]string{"SEARCH outbox_heads USING INTEGER PRIMARY KEY (rowid=?)", "SCAN h",
				"SEARCH l USING PRIMARY KEY (ordering_key=?)"}},
		{"claim: read the calls", qClaimedCalls, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"settle: head of a key", qHeadOfKey, []string{"SEARCH outbox USING INDEX outbox_by_key (ordering_key=?)"}},
		{"settle: call by id", `UPDATE outbox SET state = ? WHERE id = ? RETURNING ordering_key, state`,
			[]string{"SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (id=?)"}},
		{"bulk settle: calls by id", qSettleGroup, []string{"SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (id=?)"}},
		{"bulk settle: calls by seq", qSettleGroupBySeq, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"bulk settle: settled heads", qSettleHeads, []string{"SEARCH outbox_heads USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"bulk settle: new heads", qNewHeads, []string{"SEARCH o USING INTEGER PRIMARY KEY (rowid=?)",
			"SEARCH h USING INDEX outbox_by_key (ordering_key=? AND seq>?)",
			"SEARCH m USING INDEX outbox_by_key (ordering_key=? AND seq>?)"}},
		{"enqueue: offer heads", offerSQL[2], []string{"SEARCH o USING INDEX outbox_by_key (ordering_key=? AND seq<?)"}},
		{"enqueue: mark the heads a call queues behind", markSQL[2],
			[]string{"SEARCH outbox_heads USING INTEGER PRIMARY KEY (rowid=?)",
				"SEARCH o USING INDEX outbox_by_key (ordering_key=? AND seq<?)"}},
		{"retry, discard, supersede: the new head", qInsertHead,
			[]string{"SEARCH m USING INDEX outbox_by_key (ordering_key=? AND seq>?)"}},
		{"enqueue: supersede older reports", supersedeSQL[outbox.KindReport],
			[]string{"SEARCH outbox USING INDEX outbox_by_key (ordering_key=? AND seq<?)"}},
		{"enqueue: supersede older cancels", supersedeSQL[outbox.KindCancel],
			[]string{"SEARCH outbox USING INDEX outbox_by_key (ordering_key=? AND seq<?)"}},
		{"settle: newer call of a pair", qNewerOfPair,
			[]string{"SEARCH outbox USING INDEX outbox_by_key (ordering_key=? AND seq>?)"}},
		{"settle: release a key", qReleaseKey, []string{"SEARCH outbox_leases USING PRIMARY KEY (ordering_key=?)"}},
		{"renew: still pending", qPendingOf, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"beliefs: calls of entities", qCallsOfKeys, []string{"SEARCH outbox USING INDEX outbox_by_key (ordering_key=?)"}},
		{"beliefs: compacted", qBeliefsOf,
			[]string{"SEARCH outbox_beliefs USING PRIMARY KEY (site_id=? AND external_entity_id=?)"}},
		{"retry, discard: drop the heads of a key", qDropHeadsOfKey,
			[]string{"SEARCH outbox_heads USING INTEGER PRIMARY KEY (rowid=?)",
				"SEARCH outbox USING COVERING INDEX outbox_by_key (ordering_key=?)"}},
		{"next due: heads by ready time", qNextDue, []string{"SCAN h USING INDEX outbox_heads_by_ready",
			"SEARCH l USING PRIMARY KEY (ordering_key=?)"}},
		{"prune: a chunk", qPruneChunk, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)",
			"SEARCH outbox USING COVERING INDEX outbox_settled (state=? AND settled_at<?)", "SCAN outbox_delivered"}},
		{"prune: delete marks", qPruneMarks, []string{"SEARCH outbox_delivered USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"prune: delete", qPruneDelete, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)",
			"SEARCH outbox_attempts USING COVERING INDEX outbox_attempts_by_call (call_id=?)"}},
		{"prune: a compacted belief", qReadBelief,
			[]string{"SEARCH outbox_beliefs USING PRIMARY KEY (site_id=? AND external_entity_id=? AND trigger_key=?)"}},
		{"history of a call", `SELECT at FROM outbox_attempts WHERE call_id = ? ORDER BY id`,
			[]string{"SEARCH outbox_attempts USING INDEX outbox_attempts_by_call (call_id=?)"}},
		{"list by site and state", `SELECT ` + callCols + ` FROM ` + callsFrom + ` WHERE site_id = ? AND state = ? AND ` +
			openCalls + ` AND call_seq IS NULL AND outbox.seq > ? ORDER BY outbox.seq LIMIT ?`,
			[]string{"SEARCH outbox USING INDEX outbox_open (site_id=? AND state=? AND seq>?)",
				"SEARCH outbox_delivered USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"list a site's delivered calls", `SELECT ` + callCols + ` FROM ` + callsFrom + ` WHERE site_id = ?
			AND (state = 'delivered' OR (state = 'pending' AND call_seq IS NOT NULL)) AND outbox.seq > ? ORDER BY outbox.seq LIMIT ?`,
			[]string{"SEARCH outbox USING INDEX outbox_by_site (site_id=? AND seq>?)"}},
		{"bulk settle: deliveries by seq", qDeliverBySeq, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)",
			"SEARCH h EXISTS USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"bulk settle: seqs of calls", qSeqsOfIDs, []string{"SEARCH outbox USING COVERING INDEX sqlite_autoindex_outbox_1 (id=?)"}},
		{"fold a delivery mark", qFoldMark, []string{"SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (id=?)",
			"SEARCH d USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"stats: a site's marked calls", `SELECT count(*) FROM outbox WHERE site_id = ? AND state = 'pending' AND ` +
			openCalls + ` AND NOT ` + notDelivered("outbox"),
			[]string{"SEARCH outbox USING COVERING INDEX outbox_open (site_id=? AND state=?)"}},
		{"stats: a site's calls", `SELECT count(*) FROM outbox WHERE site_id = ?`,
			[]string{"SEARCH outbox USING COVERING INDEX outbox_by_site (site_id=?)"}},
		{"stats: a site's open calls", `SELECT state, count(*) FROM outbox WHERE site_id = ? AND ` + openCalls + ` GROUP BY state`,
			[]string{"SEARCH outbox USING COVERING INDEX outbox_open (site_id=?)"}},
		{"load appointment", `SELECT ` + appointmentCols + ` FROM appointments WHERE site_id = ? AND id = ?`,
			[]string{"SEARCH appointments USING PRIMARY KEY (site_id=? AND id=?)"}},
		{"save appointment", `UPDATE appointments SET title = ?, version = version + 1 WHERE site_id = ? AND id = ? AND version = ?`,
			[]string{"SEARCH appointments USING PRIMARY KEY (site_id=? AND id=?)"}},
		{"load class", `SELECT ` + classCols + ` FROM classes WHERE site_id = ? AND id = ?`,
			[]string{"SEARCH classes USING PRIMARY KEY (site_id=? AND id=?)"}},
		{"active enrollment", qActiveEnrollment,
			[]string{"SEARCH enrollments USING INDEX enrollments_one_active (site_id=? AND class_id=? AND participant_id=?)"}},
		{"active enrollments by position", qActiveEnrollments,
			[]string{"SEARCH enrollments USING INDEX enrollments_active_by_position (site_id=? AND class_id=?)"}},
		{"oldest waitlisted", qOldestWaitlisted,
			[]string{"SEARCH enrollments USING INDEX enrollments_waitlist (site_id=? AND class_id=?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := explain(t, db, tt.query)
			for _, w := range tt.want {
				assert.Contains(t, plan, w)
			}
			assert.NotContains(t, plan, "TEMP B-TREE", "the query sorts its rows")
			assert.NotContains(t, plan, "AUTOMATIC", "the query builds a transient index")
		})
	}
}

// explain returns the EXPLAIN QUERY PLAN details of query, one per line.
func explain(t *testing.T, db *DB, query string) string {
	t.Helper()
	// Enough arguments for every ? and for numbered ones up to ?11.
	n := max(strings.Count(query, "?"), 11)
	args := make([]any, n)
	for i := range args {
		args[i] = 1
	}
	rows, err := db.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}
