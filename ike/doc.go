// Package ike is cygnet's IKEv2 engine (RFC 7296): configuration types,
// the engine that negotiates IKE and CHILD SAs, and the events it reports.
// The wire codec lives in ike/message, the transform table and proposal
// selection in ike/suite, key derivation in ike/keymat, and public-key
// authentication in ike/auth.
//
// # Engine
//
// An Engine is built from Options: the Config, a Transport for IKE
// messages (ike/udp in the daemon, an in-memory link in tests), an
// xfrm.Installer for the kernel (xfrm.Handle, or xfrmtest.Fake), and
// optionally a Clock, a random source, a logger and an event callback.
//
//	e, err := ike.New(ike.Options{Config: cfg, Transport: conn, Kernel: handle})
//	go conn.Serve(e.HandlePacket)
//	err = e.Initiate(ctx, "host-host") // until the CHILD_SA is installed, or why not
//	st := e.Status()                   // IKE_SAs, CHILD_SAs and message counters
//	err = e.Terminate(ctx, "host-host")
//
// Exchanges implemented: IKE_SA_INIT (proposal selection with the local
// order winning, INVALID_KE_PAYLOAD retry, COOKIE both ways, NAT detection
// with the move to port 4500, fragmentation and signature hash announcement),
// IKE_AUTH with a pre-shared key, certificates or raw public keys and one
// transport-mode CHILD_SA whose traffic selectors are narrowed per RFC 7296
// 2.9, and INFORMATIONAL (Delete of IKE SAs both ways and of CHILD_SAs by
// the peer, liveness checks answered). The first IKE SA to a peer carries
// INITIAL_CONTACT unless uniqueids=never.
// CHILD_SA keys come from keymat.DeriveChild and go to the kernel with an
// SPI the kernel allocated and a reqid from xfrm's ownership range. When
// the CHILD_SA fails (no common ESP proposal, unacceptable selectors, a
// kernel error) the IKE_SA is kept, as RFC 7296 1.2 and strongSwan do, and
// the failure is reported.
//
// As responder the engine considers the transport-mode connections whose
// addresses match the packet and whose Auto is not AutoIgnore (strongSwan
// does not load auto=ignore conns), picks by IKE proposal in IKE_SA_INIT
// and by the peer's identity in IKE_AUTH. A connection's remote ID defaults
// to its certificate's subject, else to its fixed address (strongSwan's
// rightid default). Connection.InstallPolicy false installs the ESP states
// without policies, as ipsec.conf installpolicy=no does.
//
// Port 4500: the initiator moves IKE_AUTH to port 4500 only when a NAT is
// detected (or forceencaps fakes one). charon also moves when MOBIKE is
// enabled, which cygnet does not implement; as responder the engine
// answers on whichever port an authenticated request arrived.
//
// Message IDs use a window of one in each direction (RFC 7296 2.3);
// requests are retransmitted with strongSwan's exponential schedule and the
// SA is given up after the last try; the response to the peer's last
// request is cached and replayed for its retransmissions (RFC 7296 2.1).
//
// # Hostile input
//
// Anything unauthenticated, malformed, for an unknown SPI, out of window
// or failing its integrity check is dropped without reply or state change
// and counted in Status().Counters; the only answers to unauthenticated
// messages are those RFC 7296 allows for IKE_SA_INIT (COOKIE,
// INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, INVALID_SYNTAX,
// INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD). Half-open SAs are bounded
// (Config.HalfOpenLimit) and cookies demanded above Config.CookieThreshold.
// AUTH values are compared in constant time. Logs carry connection names,
// identities and SPIs, never keys, nonces or pre-shared keys.
//
// # Concurrency and time
//
// Each IKE SA is a state machine with its own mutex, taken by every packet,
// timer and API call for it; packets and events are sent and reported after
// it is released. Time is read only through the Clock, so tests drive
// retransmissions with internal/clock's fake.
//
// Not yet implemented (the SA state keeps CHILD_SAs with separate inbound
// and outbound halves so they can be added): rekeying and reauthentication,
// dead peer detection (peers' checks are answered), collision handling and
// the uniqueids policy (a received INITIAL_CONTACT is only logged), NAT
// keepalives, MOBIKE, further CHILD_SAs with CREATE_CHILD_SA (refused with
// NO_ADDITIONAL_SAS), deleting a single CHILD_SA from this end, EAP.
package ike
