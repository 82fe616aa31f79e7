// Package scenarios holds the executable documentation of lifecycle's rules:
// Given/When/Then tests, run through the application against every store
// adapter, that state exactly which Wix calls each business event queues, in
// which order, and with which externalEntityId.
//
// One-to-many (appointments_test.go): a contact has many appointments; each
// appointment's ID is its events' externalEntityId, so canceling one
// appointment cancels its own events and nothing else.
//
// Many-to-many (classes_test.go): participants and classes; every enrollment
// gets a new generated ID, which is its events' externalEntityId, so a
// participant leaving one class, or a class being canceled, cancels exactly
// the events of those enrollments.
//
// Refusals (refusals_test.go): every illegal or invalid command is refused
// with a typed error, changes nothing, and queues no call.
package scenarios
