// Package xfrm installs cygnet's IPsec SAs and policies into the Linux
// kernel's XFRM layer over netlink (NETLINK_XFRM), always in an explicit
// network namespace. It is the only package of cygnet that talks to the
// kernel's SA and policy databases, and the only importer of
// github.com/vishvananda/netlink, whose message layouts (package nl) it
// reuses while sending its own requests on its own per-namespace sockets.
// The types, events and interfaces build on every GOOS, so that the IKE
// engine does; Handle, which implements them, is Linux only.
//
// The ESP SAs are those of RFC 4303 in transport mode, with AES-GCM
// (RFC 4106) or AES-CBC with HMAC-SHA2 (RFC 3602, RFC 4868) and optional
// UDP encapsulation for NAT traversal (RFC 3948).
//
// # Ownership
//
// Every state and every IPsec policy cygnet installs carries a request ID
// (reqid) in the range [ReqIDMin, ReqIDMax] (0xc9000001 to 0xc9ffffff):
// states in their xfrm_usersa_info, policies in their template. Block
// policies, which need no template, carry one anyway so the reqid marks
// them too. Reconcile and Flush only ever touch objects whose reqid lies in
// that range, so a restarted daemon replaces exactly its own stale objects
// and leaves states and policies made by other programs (or by the `ip`
// command) alone. strongSwan numbers its reqids from 1, far below the range.
//
// # SPIs
//
// Inbound SPIs are allocated by the kernel (XFRM_MSG_ALLOCSPI), which
// creates a larval state that InstallState later fills in with
// XFRM_MSG_UPDSA; cygnet never picks SPIs at random. A larval state left
// behind by a failed negotiation expires on its own (net.core.xfrm_acq_expires,
// 30 s by default) and is also removed by DeleteState.
package xfrm
