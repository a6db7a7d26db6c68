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
// The lifecycle an embedder needs is the engine's: Start keeps a
// connection trying in the background per its KeyingTries (Connect is the
// blocking form), Route installs its trap policies so that traffic brings
// it up, events arrive in order through Options.OnEvent, and Drain then
// Close end everything the engine started, its loops and kernel objects
// included, before they return.
//
// Exchanges implemented: IKE_SA_INIT (proposal selection with the local
// order winning, INVALID_KE_PAYLOAD retry, COOKIE both ways, NAT detection
// with the move to port 4500, fragmentation and signature hash announcement),
// IKE_AUTH with a pre-shared key, certificates or raw public keys and one
// transport-mode CHILD_SA whose traffic selectors are narrowed per RFC 7296
// 2.9, CREATE_CHILD_SA rekeying CHILD and IKE SAs, and INFORMATIONAL
// (Delete of IKE and CHILD SAs both ways, liveness checks both ways). The
// first IKE SA to a peer carries INITIAL_CONTACT unless uniqueids=never.
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
// rightid default). Connection.NoPolicy installs the ESP states
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
// INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD). Above
// Config.CookieThreshold half-open SAs, and for a source that already has
// Config.BlockThreshold unverified ones, IKE_SA_INIT is answered with a
// COOKIE (RFC 7296 2.6): a version byte and HMAC-SHA-256 over the source
// address, SPIi and Ni, under a secret that rotates every 5 minutes, the
// previous one still accepted. Then, as charon does, the per-source limit
// (Config.BlockThreshold, default 5, counting only cookie-verified SAs, so
// spoofed requests cannot block an address) and the global
// Config.HalfOpenLimit apply; IKE_SA_INIT requests over 10,000 bytes are
// dropped (Counters.Oversized), so a half-open SA costs about 4 KB, 14 KB
// at most. Log lines about stateless answers are limited to 10 per 10 s.
// AUTH values are compared in constant time. Logs carry connection names,
// identities and SPIs, never keys, nonces or pre-shared keys.
//
// # Concurrency and time
//
// Each IKE SA is a state machine with its own mutex, taken by every packet,
// timer and API call for it; packets and events are sent and reported after
// it is released. Engine.Dispatch, which the daemon's socket readers call,
// runs each IKE SA's messages on a goroutine of its own, in arrival order,
// so a kernel call that blocks for one SA (it runs under that SA's lock)
// never delays another peer; HandlePacket is the synchronous form. Time is
// read only through the Clock, so tests drive retransmissions with
// internal/clock's fake.
//
// # SA lifecycle
//
// CHILD_SAs are rekeyed with CREATE_CHILD_SA and REKEY_SA (RFC 7296
// 1.3.3), with a KE payload when the ESP proposal names a group (PFS), at
// lifetime - margintime - random(rekeyfuzz% of margintime), on the
// kernel's soft expire (Engine.KernelEvent, which also carries the
// lifebytes/lifepackets soft limits given to the kernel) and, with
// rekey=no, deleted at the hard lifetime. Make-before-break: Linux sends
// on the newest outbound state of a reqid, so the end that answers (a
// CHILD_SA rekey, or the IKE_AUTH of a reauthentication) installs the new
// inbound state at once and the new outbound state only when the initiator
// shows it has the answer: it deletes the old SA, sends a later request,
// or its ESP arrives on the new SA (deferout.go). The initiator installs
// the pair when the answer arrives and deletes the old one; an SA being
// deleted stops sending at once, its inbound state stays until the peer
// confirms. The loser of a rekey collision never sends on its redundant
// SA. Replaced SAs go without
// EventChildDown; EventChildRekeyed reports the new one. IKE SAs are
// rekeyed (rekey=yes, reauth=no) at ikelifetime - margintime (RFC 7296
// 2.18), their CHILD_SAs moving to the new SA untouched in the kernel.
// With reauth=yes (and rekey=yes) the IKE SA is instead reauthenticated
// (RFC 7296 2.8.3) at the same time less a random rekeyfuzz share of the
// margin: the end whose timer fires first negotiates a new IKE SA with
// IKE_SA_INIT, IKE_AUTH and the connection's CHILD_SA, without
// INITIAL_CONTACT, and deletes the old IKE SA once the new one is up. The
// new CHILD_SA keeps the connection's reqid, so its policies never leave
// the kernel (make-before-break, whatever charon.make_before_break says).
// A failed attempt is retried every 10 s; at ikelifetime the old SA is
// deleted.
//
// Collisions: crossing CHILD_SA or IKE SA rekeys keep the SA whose
// exchange does not hold the lowest of the four nonces, the redundant one
// deleted by its creator (RFC 7296 2.8.1, 2.8.2); a rekey of an SA already
// replaced or being deleted gets TEMPORARY_FAILURE and is retried after a
// random 2-10 s (RFC 7296 2.25), of an unknown SA CHILD_SA_NOT_FOUND;
// crossing Deletes answer without Delete payloads (RFC 7296 1.4.1). When
// both ends initiate the same connection, each end deletes the IKE SA whose
// lower nonce is the lowest (only when the two negotiations overlapped: an
// SA up before the other started is what a reauthentication replaces), so
// two cygnets, and a cygnet against a peer
// that keeps duplicates (strongSwan), end with one IKE SA and one CHILD_SA
// pair. Config.UniqueIDs follows strongSwan: yes and replace delete older
// IKE SAs of the same identities and connection (cygnet runs one IKE SA per
// connection; when we answered the new one, the old one goes only once the
// peer shows it holds the new one), no only when the new one carries
// INITIAL_CONTACT (RFC 7296 2.4; a restarted peer's SAs are removed at once,
// with one unretransmitted Delete in case the path reordered), never keeps
// them all, keep refuses the new one.
//
// Dead peer detection: after dpddelay without an authenticated message
// the engine sends an empty INFORMATIONAL; when any request of an
// established SA exhausts its retransmissions the peer is dead and
// dpdaction applies: clear and hold remove the SAs (hold's trap policies
// are the daemon's), restart negotiates again. dpdaction=none disables the
// checks, as in strongSwan. Behind a NAT, NAT-T keepalives (RFC 3948 2.3)
// go every Config.KeepAlive through a Transport that implements
// KeepaliveSender. When the peer is behind a NAT and the kernel reports
// (Engine.KernelEvent, its MAPPING event) that its authenticated ESP now
// comes from another port, the IKE SA and the CHILD_SAs' encapsulation
// move to that port in place (RFC 7296 2.23; the kernel installer must
// implement xfrm.EncapUpdater); a new address is not followed.
//
// Not yet implemented: keyingtries back-off in the engine (the daemon's
// initiate loop retries, with jitter), MOBIKE and address changes, further
// CHILD_SAs with CREATE_CHILD_SA (refused with NO_ADDITIONAL_SAS), deleting
// a single CHILD_SA through the API, EAP.
package ike
