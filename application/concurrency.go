package application

import (
	"errors"
	"fmt"
)

// ErrVersionMismatch: a command carried IfVersion and the aggregate's
// version is another: it changed since the caller read it. The command
// changes nothing and is not retried. Errors wrapping it are
// *VersionMismatchError.
var ErrVersionMismatch = errors.New("version does not match")

// VersionMismatchError names the aggregate whose version did not match.
type VersionMismatchError struct {
	Aggregate string // appointment, class or enrollment
	ID        string
	Expected  int64 // the command's IfVersion
	Actual    int64 // the stored version
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("%s %s is at version %d, not %d: it changed since it was read", e.Aggregate, e.ID, e.Actual, e.Expected)
}

// Unwrap lets errors.Is(err, ErrVersionMismatch) match.
func (e *VersionMismatchError) Unwrap() error { return ErrVersionMismatch }

// checkVersion is the optimistic precondition of a command: nil when the
// command carries no IfVersion or when it equals the version loaded in the
// command's transaction, a *VersionMismatchError otherwise. Handlers call it
// after loading the aggregate and before changing anything.
func checkVersion(aggregate string, id fmt.Stringer, ifVersion *int64, actual int64) error {
	if ifVersion == nil || *ifVersion == actual {
		return nil
	}
	return &VersionMismatchError{Aggregate: aggregate, ID: id.String(), Expected: *ifVersion, Actual: actual}
}
