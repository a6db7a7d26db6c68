package ike

import "errors"

// Sentinel errors of the engine, for errors.Is: the engine wraps them with
// the connection, peer or SPI they concern.
var (
	// ErrClosed reports a call into an engine after Close.
	ErrClosed = errors.New("ike: engine closed")
	// ErrNoConnection reports an operation on a connection name the
	// engine's configuration does not have (or, for Unroute, that is not
	// routed).
	ErrNoConnection = errors.New("ike: no connection")
	// ErrAuthFailed is wrapped by every authentication failure, ours of
	// the peer or the peer's of us (AUTHENTICATION_FAILED).
	ErrAuthFailed = errors.New("authentication failed")
	// ErrNoProposal reports that the peer accepted none of the proposals
	// offered (NO_PROPOSAL_CHOSEN), for the IKE SA or the CHILD_SA.
	ErrNoProposal = errors.New("no proposal chosen")
)
