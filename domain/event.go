package domain

import "time"

// Event is something that happened to an aggregate, named in the past tense.
// Aggregates record events as they change; the application turns them into
// Wix calls. Concrete events are plain structs in each aggregate package.
type Event interface {
	// EventName is a stable, namespaced name such as "appointment:canceled".
	EventName() string
	// OccurredAt is the time the command passed to the aggregate.
	OccurredAt() time.Time
}
