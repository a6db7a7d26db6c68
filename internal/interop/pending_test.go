package interop

// pending are the cases that fail today because of a cygnet bug outside
// this package; docs/interop.md names each bug with its evidence. They run
// only with CYGNET_INTEROP_PENDING=1 (TestInteropPending), so `make test`
// stays green while they fail, and each reports its real result when run;
// a case moves into TestInterop, TestInteropLifecycle, TestInteropNAT or
// TestInteropLibreswan once it passes twice. None is pending now: the last
// two (raw-key `cert:` lines and the traffic line's packet counts) are
// checked by every matrix case since the status fix of a9d9d07.
var pending []tcase
