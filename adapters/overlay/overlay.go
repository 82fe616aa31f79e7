// Package overlay is what the stores that stage a command's writes before
// they commit (SQLite, PostgreSQL) share to let the command read its own
// writes: the staged snapshots laid over what a store read returned.
package overlay

import (
	"sort"

	"github.com/bookable/lifecycle/domain"
)

// Merge returns stored without the aggregates staged under key(ID), plus
// the staged snapshots for which match holds, restored, in the order less
// gives (stable). stored's backing array is reused.
func Merge[K comparable, S any, A interface{ ID() domain.ID }](
	stored []A, staged map[K]S, key func(id domain.ID) K, match func(K, S) bool,
	restore func(S) (A, error), less func(a, b A) bool,
) ([]A, error) {
	out := stored[:0]
	for _, a := range stored {
		if _, ok := staged[key(a.ID())]; !ok {
			out = append(out, a)
		}
	}
	for k, s := range staged {
		if !match(k, s) {
			continue
		}
		a, err := restore(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out, nil
}
