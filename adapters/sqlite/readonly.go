package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// prepareFile makes sure path names a database file before SQLite opens it.
// With existing, a missing file is an error naming it. Otherwise a missing
// file is created empty with mode 0600 (an empty file is a valid new
// database): SQLite then gives the -wal and -shm files the same mode, where
// its own default would be 0644 for all three.
func prepareFile(path string, existing bool) error {
	info, err := os.Stat(path)
	switch {
	case err == nil && info.IsDir():
		return fmt.Errorf("sqlite: open %s: is a directory", path)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	case existing:
		return fmt.Errorf("sqlite: open %s: no such database file (check --db): %w", path, fs.ErrNotExist)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created it meanwhile
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// openReadOnly finishes Open for WithReadOnly: a pool of read-only
// connections (mode=ro, query_only), the schema checked, and a writer that
// refuses every write.
//
// A database in WAL mode needs its -shm file to be read. When no other
// process has the file open and the process may not create the -shm file
// (a read-only directory), SQLite refuses with SQLITE_READONLY_CANTINIT or
// SQLITE_READONLY_DIRECTORY; the file is then opened immutable, which is
// sound only because nobody is writing it: a writer in WAL mode keeps the
// -wal file, whose absence is checked first.
func openReadOnly(ctx context.Context, db *DB) (*DB, error) {
	read, err := db.openReadOnlyPool(ctx)
	if err != nil {
		return nil, err
	}
	st, err := schemaStatus(ctx, read, db.path)
	if err == nil && len(st.Pending) > 0 {
		err = fmt.Errorf("%w: %s is at schema version %d, this binary has %d more migration(s) up to %d",
			ErrSchemaOutdated, db.path, st.Version(), len(st.Pending), st.Pending[len(st.Pending)-1].Version)
	}
	if err != nil {
		read.Close()
		return nil, err
	}
	reads, err := prepareReads(ctx, read, aggregateReads)
	if err != nil {
		read.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", db.path, err)
	}
	db.read, db.reads = read, reads
	db.w = refusingWriter(fmt.Errorf("%w: %s", ErrReadOnly, db.path))
	db.write = nil
	return db, nil
}

// openReadOnlyPool opens the read-only pool, immutable when SQLite cannot
// set up reading a WAL file that nobody has open (see openReadOnly).
func (db *DB) openReadOnlyPool(ctx context.Context) (*sql.DB, error) {
	read, err := db.openReadPool(ctx, false)
	if err != nil && cannotInitReadOnly(err) {
		if _, statErr := os.Stat(db.path + "-wal"); errors.Is(statErr, fs.ErrNotExist) {
			return db.openReadPool(ctx, true)
		}
	}
	return read, err
}

// openReadPool opens and pings the read-only pool of a read-only DB.
func (db *DB) openReadPool(ctx context.Context, immutable bool) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", db.cfg.busyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	dsn := "file:" + (&url.URL{Path: db.path}).EscapedPath() + "?" + q.Encode()
	read, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", db.path, err)
	}
	read.SetMaxOpenConns(db.cfg.readConns)
	read.SetMaxIdleConns(db.cfg.readConns)
	// The first read is what needs the -shm file.
	var n int
	if err := read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		read.Close()
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", db.path, err)
	}
	return read, nil
}

// cannotInitReadOnly reports whether err is SQLite finding no -shm file it
// may read or create.
func cannotInitReadOnly(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_READONLY_CANTINIT || se.Code() == sqlite3.SQLITE_READONLY_DIRECTORY
}

// ReadSchema reports the schema of the database file at path without
// changing it: the file must exist and is opened read-only, as WithReadOnly
// does, but an outdated schema is reported (in Pending), not refused. A
// file with a migration this binary does not know returns what it read with
// ErrSchemaTooNew.
func ReadSchema(ctx context.Context, path string) (SchemaStatus, error) {
	if err := prepareFile(path, true); err != nil {
		return SchemaStatus{}, err
	}
	db := &DB{path: path, cfg: config{busyTimeout: 5 * time.Second, readConns: 1}}
	read, err := db.openReadOnlyPool(ctx)
	if err != nil {
		return SchemaStatus{}, err
	}
	defer read.Close()
	return schemaStatus(ctx, read, path)
}
