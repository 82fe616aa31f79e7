package courseenrollment

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"

	"github.com/google/uuid"

	"github.com/bookable/lifecycle/domain"
)

// sessionNamespace is the namespace of session entity IDs: hashing an
// enrollment ID under it gives the first bytes of every session entity ID of
// that enrollment.
var sessionNamespace = uuid.MustParse("6c1f5e2a-8d3b-4f0e-9a7c-2b4d6e8f0a13")

// lookupKeyLen is the length of a LookupKey: the first 12 bytes of a session
// entity ID, in hex.
const lookupKeyLen = 24

// SessionEntityID returns the externalEntityId of one participant's place in
// one session of a course: their enrollment's reminder for that session,
// and its cancel notice. It is derived, not stored, and it is a UUID
// (version 8, RFC 9562) made of two parts:
//
//   - the first 12 bytes are a SHA-1 of the enrollment ID under a namespace
//     of lifecycle's (with the version and variant bits set): the
//     enrollment's LookupKey, the same for all its sessions;
//   - the last 4 bytes are the session's number in its course, big-endian.
//
// So two sessions of one enrollment never share an ID, two enrollments
// share none unless 90 bits of SHA-1 collide, and none equals an ID that
// lifecycle mints (version 7) or an enrollment's own. And the ID says what
// it names: a store finds the enrollment by the LookupKey it indexes, the
// course's session by the number (ParseSessionEntityID).
func SessionEntityID(enrollmentID domain.ID, sessionNumber int) domain.ID {
	var u uuid.UUID
	copy(u[:12], prefix(enrollmentID))
	binary.BigEndian.PutUint32(u[12:], uint32(sessionNumber))
	return domain.MustID(u.String()) // never nil: the version and variant bits are set
}

// LookupKey returns what every session entity ID of the enrollment begins
// with, as 24 lowercase hex digits (the first 12 bytes).
func LookupKey(enrollmentID domain.ID) string { return hex.EncodeToString(prefix(enrollmentID)) }

func prefix(enrollmentID domain.ID) []byte {
	h := sha1.New()
	h.Write(sessionNamespace[:])
	h.Write([]byte(enrollmentID.String())) // canonical: lowercase
	p := h.Sum(nil)[:12]
	p[6] = p[6]&0x0f | 0x80 // version 8
	p[8] = p[8]&0x3f | 0x80 // variant RFC 9562
	return p
}

// ParseSessionEntityID reads what a session entity ID names: the LookupKey
// of its enrollment and the session's number. ok is false for an ID that
// cannot be one (not a version 8 UUID, or session number 0); a well-formed
// ID may still name no enrollment.
func ParseSessionEntityID(id string) (lookupKey string, sessionNumber int, ok bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 8 || u.Variant() != uuid.RFC4122 {
		return "", 0, false
	}
	n := binary.BigEndian.Uint32(u[12:])
	if n == 0 || n > 1<<31-1 {
		return "", 0, false
	}
	return hex.EncodeToString(u[:lookupKeyLen/2]), int(n), true
}
