// Package domain holds what the aggregates of lifecycle share: the errors
// callers test with errors.Is and errors.As, the domain event interface,
// identifier validation, time zones, and the state machine wrapper that
// keeps looplab/fsm behind each aggregate's intention-revealing methods.
//
// The aggregates themselves live in the subpackages appointment, class,
// enrollment, course (with its sessions), courseenrollment and series; a
// site's settings (its time zone) in site. Nothing in domain knows about Wix, SQL or HTTP, and nothing in
// it reads the wall clock: every method that changes state takes the time.
package domain
