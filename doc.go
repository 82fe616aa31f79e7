// Package lifecycle keeps Wix Automations true to what happens to bookings.
//
// A booking product embeds it: commands on appointments, classes and
// enrollments (package application) change aggregates (package domain) and
// queue, in the same transaction, the Wix Report Event and Cancel Event
// calls that keep site owners' automations right (package application's
// Policy). A relay delivers the calls in order per entity. Adapters provide
// SQLite persistence, the Wix REST gateway and a Wix simulator.
//
// See README.md for a quick start and docs/ for the guide.
package lifecycle
