// Package interop runs cygnet's daemon against the keying daemons of the
// distribution, strongSwan's charon and libreswan's pluto, in both
// directions on a real kernel with ESP (RFC 4303) in transport mode,
// negotiated with IKEv2 (RFC 7296). Everything is in its tests: one guest
// boot (internal/vm) runs the whole matrix, each case in fresh network
// namespaces, each daemon driven by its own configuration files. See
// docs/interop.md for the matrix and its last result.
package interop
