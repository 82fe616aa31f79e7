package outbox

// Supersession: for a pair (site, trigger, entity) only the newest call
// decides what Wix ends with. When a call is committed, every older call of
// its pair that was not delivered is superseded and never sent after it,
// with one exception: a pending cancel stays pending before a newer report
// of its pair, because it must still remove what is live at Wix before the
// report arrives (a reschedule is cancel, then report). Such a cancel that
// later ends dead is superseded then (see Settled).
//
// The rule covers reports and cancels alike:
//
//	older call          newer report   newer cancel
//	pending report      superseded     superseded
//	pending cancel      stays pending  superseded
//	dead or expired     superseded     superseded
//	delivered, discarded, superseded: unchanged

// Supersedes reports whether committing a newer call of kind newer
// supersedes an older call of the same pair in state older of kind
// olderKind.
func Supersedes(older State, olderKind, newer Kind) bool {
	if _, ok := next[older][EventSupersede]; !ok {
		return false
	}
	return !(older == StatePending && olderKind == KindCancel && newer == KindReport)
}

// SupersedeRule is one (older state, older kind) that a newer call of kind
// Newer supersedes. Adapters that select the superseded calls in a query
// build its condition from SupersedeRules, so the rule stays written once.
type SupersedeRule struct {
	Newer     Kind
	OlderKind Kind
	Older     State
}

// SupersedeRules lists every case in which Supersedes is true, for each
// newer kind, in a fixed order.
func SupersedeRules() []SupersedeRule {
	var out []SupersedeRule
	for _, newer := range kinds {
		for _, st := range States() {
			for _, k := range kinds {
				if Supersedes(st, k, newer) {
					out = append(out, SupersedeRule{Newer: newer, OlderKind: k, Older: st})
				}
			}
		}
	}
	return out
}
