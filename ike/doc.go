// Package ike is cygnet's IKEv2 engine (RFC 7296): configuration types,
// the engine that negotiates IKE and CHILD SAs, and the events it reports.
// The wire codec lives in ike/message, the transform table and proposal
// selection in ike/suite, and key derivation in ike/keymat.
package ike
