package daemon

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/vici"
)

func u64(n uint64) string         { return strconv.FormatUint(n, 10) }
func secs(d time.Duration) string { return strconv.FormatInt(int64(max(d, 0)/time.Second), 10) }

// splitProposal splits a proposal as status prints it
// ("AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384") into the list-sa keys:
// encr-alg and encr-keysize, integ-alg, prf-alg, dh-group, esn.
func splitProposal(m *vici.Message, p string) {
	for i, part := range strings.Split(p, "/") {
		switch {
		case part == "":
		case i == 0:
			alg, size := part, ""
			if j := strings.LastIndexByte(part, '_'); j > 0 {
				if _, err := strconv.Atoi(part[j+1:]); err == nil && strings.HasPrefix(part, "AES") || strings.HasPrefix(part, "CAMELLIA") {
					alg, size = part[:j], part[j+1:]
				}
			}
			m.Set("encr-alg", alg)
			if size != "" {
				m.Set("encr-keysize", size)
			}
		case strings.HasPrefix(part, "PRF_"):
			m.Set("prf-alg", part)
		case strings.HasPrefix(part, "HMAC_") || strings.HasPrefix(part, "AES_XCBC") || strings.HasPrefix(part, "AES_CMAC"):
			m.Set("integ-alg", part)
		case part == "ESN":
			m.Set("esn", "1")
		case part == "NO_EXT_SEQ":
		default:
			m.Set("dh-group", part)
		}
	}
}

// viciIKE is an IKE_SA as list-sa and the updown events show it.
func (d *Daemon) viciIKE(sa ike.IKESAStatus, now time.Time, withChildren bool, onlyChild uint32) *vici.Message {
	m := vici.NewMessage().
		Set("uniqueid", strconv.FormatUint(uint64(sa.UniqueID), 10)).
		Set("version", "2").
		Set("state", sa.State).
		Set("local-host", sa.Local.Addr().String()).
		Set("local-port", strconv.Itoa(int(sa.Local.Port()))).
		Set("local-id", sa.LocalID.String()).
		Set("remote-host", sa.Remote.Addr().String()).
		Set("remote-port", strconv.Itoa(int(sa.Remote.Port()))).
		Set("remote-id", sa.RemoteID.String()).
		Set("initiator", yesNo(sa.Initiator)).
		Set("initiator-spi", fmt.Sprintf("%016x", sa.SPIi)).
		Set("responder-spi", fmt.Sprintf("%016x", sa.SPIr))
	if sa.NATLocal {
		m.Set("nat-local", "yes")
	}
	if sa.NATRemote {
		m.Set("nat-remote", "yes")
	}
	if sa.NATLocal || sa.NATRemote {
		m.Set("nat-any", "yes")
	}
	splitProposal(m, sa.Proposal)
	if !sa.Established.IsZero() {
		m.Set("established", secs(now.Sub(sa.Established)))
	}
	if !sa.RekeyTime.IsZero() {
		m.Set("rekey-time", secs(sa.RekeyTime.Sub(now)))
	}
	if !sa.ReauthTime.IsZero() {
		m.Set("reauth-time", secs(sa.ReauthTime.Sub(now)))
	}
	if !withChildren {
		return m
	}
	children := vici.NewMessage()
	child := d.viciChildName(sa.Conn)
	for _, ch := range sa.Children {
		if onlyChild != 0 && ch.UniqueID != onlyChild {
			continue
		}
		c := vici.NewMessage().
			Set("name", child).
			Set("uniqueid", strconv.FormatUint(uint64(ch.UniqueID), 10)).
			Set("reqid", strconv.FormatUint(uint64(ch.ReqID), 10)).
			Set("state", "INSTALLED").
			Set("mode", strings.ToUpper(ch.Mode.String())).
			Set("protocol", "ESP")
		if ch.Encap {
			c.Set("encap", "yes")
		}
		c.Set("spi-in", fmt.Sprintf("%08x", ch.SPIIn)).Set("spi-out", fmt.Sprintf("%08x", ch.SPIOut))
		splitProposal(c, ch.Proposal)
		c.Set("bytes-in", u64(ch.BytesIn)).Set("packets-in", u64(ch.PacketsIn))
		if !ch.LastIn.IsZero() {
			c.Set("use-in", secs(now.Sub(ch.LastIn)))
		}
		c.Set("bytes-out", u64(ch.BytesOut)).Set("packets-out", u64(ch.PacketsOut))
		if !ch.LastOut.IsZero() {
			c.Set("use-out", secs(now.Sub(ch.LastOut)))
		}
		if !ch.RekeyTime.IsZero() {
			c.Set("rekey-time", secs(ch.RekeyTime.Sub(now)))
		}
		if !ch.ExpireTime.IsZero() {
			c.Set("life-time", secs(ch.ExpireTime.Sub(now)))
		}
		if !ch.Installed.IsZero() {
			c.Set("install-time", secs(now.Sub(ch.Installed)))
		}
		c.SetList("local-ts", []string{ch.LocalTS}).SetList("remote-ts", []string{ch.RemoteTS})
		// Sections are keyed name-uniqueid, as charon's, so that the old
		// and new CHILD_SA of a rekey do not collide.
		children.SetSection(child+"-"+strconv.FormatUint(uint64(ch.UniqueID), 10), c)
	}
	// Always present, empty for an IKE_SA without CHILD_SA: clients index
	// it unconditionally.
	m.SetSection("child-sas", children)
	return m
}

func (d *Daemon) viciListSAs(_ context.Context, st *vici.Stream, req *vici.Message) *vici.Message {
	filter, idFilter := req.Get("ike"), orString(req.Get("ike-id"), req.Get("ike_id"))
	now := time.Now()
	for _, sa := range d.engine.Status().IKESAs {
		if filter != "" && sa.Conn != filter {
			continue
		}
		if idFilter != "" && idFilter != strconv.FormatUint(uint64(sa.UniqueID), 10) {
			continue
		}
		if err := st.Emit("list-sa", vici.NewMessage().SetSection(sa.Conn, d.viciIKE(sa, now, true, 0))); err != nil {
			break
		}
	}
	return vici.NewMessage()
}

func authClassName(a ike.AuthClass) string {
	switch a {
	case ike.AuthPSK:
		return "pre-shared key"
	case ike.AuthPubkey:
		return "public key"
	}
	return "any"
}

func tsList(ep ike.Endpoint) []string {
	if ep.ProtoPort.Any() {
		return []string{"dynamic"}
	}
	return []string{tsView(ep.ProtoPort)}
}

func (d *Daemon) viciListConns(_ context.Context, st *vici.Stream, req *vici.Message) *vici.Message {
	filter := req.Get("ike")
	d.mu.Lock()
	conns := d.loaded.Config.Connections
	d.mu.Unlock()
	for i := range conns {
		c := &conns[i]
		if filter != "" && c.Name != filter {
			continue
		}
		m := vici.NewMessage().
			SetList("local_addrs", []string{c.Local.Host}).
			SetList("remote_addrs", []string{c.Remote.Host}).
			Set("version", "IKEv2")
		if c.Reauth {
			m.Set("reauth_time", secs(c.IKELifetime-c.MarginTime)).Set("rekey_time", "0")
		} else {
			m.Set("reauth_time", "0").Set("rekey_time", secs(c.IKELifetime-c.MarginTime))
		}
		m.Set("unique", "UNIQUE_NO")
		if c.DPDDelay > 0 {
			m.Set("dpd_delay", secs(c.DPDDelay))
		}
		for _, side := range []struct {
			key string
			ep  ike.Endpoint
		}{{"local-1", c.Local}, {"remote-1", c.Remote}} {
			a := vici.NewMessage().Set("class", authClassName(side.ep.Auth))
			id := "%any"
			switch {
			case !side.ep.ID.IsZero():
				id = side.ep.ID.String()
			case side.ep.AnyID:
			case side.ep.Addr.IsValid():
				id = side.ep.Addr.String()
			}
			a.Set("id", id)
			if side.ep.Cert != nil {
				a.SetList("certs", []string{certView(side.ep, id)})
			}
			if side.ep.CA != nil {
				a.SetList("cacerts", []string{certDN(side.ep.CA)})
			}
			m.SetSection(side.key, a)
		}
		child := d.viciChildName(c.Name)
		mode := strings.ToUpper(c.Mode.String())
		ch := vici.NewMessage().Set("mode", mode).
			Set("rekey_time", secs(c.Lifetime-c.MarginTime)).
			Set("rekey_bytes", u64(c.LifeBytes-min(c.MarginBytes, c.LifeBytes))).
			Set("rekey_packets", u64(c.LifePackets-min(c.MarginPackets, c.LifePackets))).
			Set("dpd_action", c.DPDAction.String()).
			Set("close_action", c.CloseAction.String()).
			SetList("local-ts", tsList(c.Local)).
			SetList("remote-ts", tsList(c.Remote))
		m.SetSection("children", vici.NewMessage().SetSection(child, ch))
		if err := st.Emit("list-conn", vici.NewMessage().SetSection(c.Name, m)); err != nil {
			break
		}
	}
	return vici.NewMessage()
}

// viciEvent publishes an engine event to the clients registered for
// ike-updown, child-updown, ike-rekey or child-rekey. It runs on the
// daemon's event goroutine, in the engine's order.
func (d *Daemon) viciEvent(ev ike.Event) {
	d.vici.mu.Lock()
	srv := d.vici.srv
	d.vici.mu.Unlock()
	if srv == nil {
		return
	}
	now := time.Now()
	// The SA as status shows it. An SA or CHILD_SA that is gone is
	// described as it was last seen (its counters, selectors, algorithms),
	// else from the event.
	sa, found := ike.IKESAStatus{}, false
	for _, s := range d.engine.Status().IKESAs {
		if s.UniqueID == ev.IKEUniqueID {
			sa, found = s, true
		}
	}
	d.vici.seenMu.Lock()
	if d.vici.seen == nil {
		d.vici.seen = map[uint32]ike.IKESAStatus{}
	}
	last, seen := d.vici.seen[ev.IKEUniqueID]
	switch {
	case found:
		d.vici.seen[ev.IKEUniqueID] = sa
	case seen:
		sa = last
		sa.State = "DELETING"
	default:
		sa = ike.IKESAStatus{Conn: ev.Conn, UniqueID: ev.IKEUniqueID, State: "DELETING", Local: ev.Local,
			Remote: ev.Remote, LocalID: ev.LocalID, RemoteID: ev.RemoteID, SPIi: ev.SPIi, SPIr: ev.SPIr}
	}
	if ev.Type == ike.EventIKEDown {
		delete(d.vici.seen, ev.IKEUniqueID)
	}
	if ev.Type == ike.EventIKERekeyed {
		var old uint32
		if n, _ := fmt.Sscanf(ev.Reason, "replaces IKE_SA %d", &old); n == 1 {
			delete(d.vici.seen, old)
		}
	}
	d.vici.seenMu.Unlock()
	childGone := false
	if ev.ChildUniqueID != 0 && !slices.ContainsFunc(sa.Children, func(c ike.ChildSAStatus) bool { return c.UniqueID == ev.ChildUniqueID }) {
		for _, c := range last.Children {
			if c.UniqueID == ev.ChildUniqueID {
				sa.Children = append(slices.Clone(sa.Children), c)
				childGone = true
			}
		}
	}
	withChild := func() *vici.Message {
		m := d.viciIKE(sa, now, true, ev.ChildUniqueID)
		cs := m.Section("child-sas")
		if cs.Len() == 0 && ev.ChildUniqueID != 0 {
			child := d.viciChildName(ev.Conn)
			cs.SetSection(child+"-"+strconv.FormatUint(uint64(ev.ChildUniqueID), 10), vici.NewMessage().
				Set("name", child).Set("uniqueid", strconv.FormatUint(uint64(ev.ChildUniqueID), 10)).
				Set("reqid", strconv.FormatUint(uint64(ev.ReqID), 10)).Set("state", "DELETING").
				Set("protocol", "ESP").Set("spi-in", fmt.Sprintf("%08x", ev.SPIIn)).
				Set("spi-out", fmt.Sprintf("%08x", ev.SPIOut)))
		}
		if childGone || ev.Type == ike.EventChildDown {
			for _, e := range cs.Entries() {
				if e.Kind == vici.KindSection {
					e.Section.Set("state", "DELETING")
				}
			}
		}
		return m
	}
	switch ev.Type {
	case ike.EventIKEUp, ike.EventIKEDown:
		m := vici.NewMessage()
		if ev.Type == ike.EventIKEUp {
			m.Set("up", "yes")
		}
		srv.Publish("ike-updown", m.SetSection(ev.Conn, d.viciIKE(sa, now, false, 0)))
	case ike.EventChildUp, ike.EventChildDown:
		m := vici.NewMessage()
		if ev.Type == ike.EventChildUp {
			m.Set("up", "yes")
		}
		srv.Publish("child-updown", m.SetSection(ev.Conn, withChild()))
	case ike.EventIKERekeyed:
		// README of charon's vici plugin: {conn: {old: {…}, new: {…}}},
		// both without child-sas.
		old := vici.NewMessage().Set("state", "REKEYED")
		var uid uint32
		var spii, spir uint64
		if n, _ := fmt.Sscanf(ev.Reason, "replaces IKE_SA %d (%016x_%016x)", &uid, &spii, &spir); n == 3 {
			old = d.viciIKE(ike.IKESAStatus{Conn: ev.Conn, UniqueID: uid, State: "REKEYED", Local: sa.Local,
				Remote: sa.Remote, LocalID: sa.LocalID, RemoteID: sa.RemoteID, SPIi: spii, SPIr: spir,
				Initiator: sa.Initiator}, now, false, 0)
		}
		srv.Publish("ike-rekey", vici.NewMessage().SetSection(ev.Conn,
			vici.NewMessage().SetSection("old", old).SetSection("new", d.viciIKE(sa, now, false, 0))))
	case ike.EventChildRekeyed:
		// {conn: {<the IKE_SA>, child-sas: {child: {old: {…}, new: {…}}}}}.
		m := withChild()
		child := d.viciChildName(ev.Conn)
		var next *vici.Message
		for _, e := range m.Section("child-sas").Entries() {
			if e.Kind == vici.KindSection {
				next = e.Section
			}
		}
		if next != nil && next.Get("state") == "DELETING" {
			// Described from the event (the IKE_SA has moved on since):
			// at the rekey the new CHILD_SA was installed.
			next.Set("state", "INSTALLED")
		}
		old := vici.NewMessage().Set("name", child).Set("state", "REKEYED").Set("protocol", "ESP").
			Set("reqid", strconv.FormatUint(uint64(ev.ReqID), 10))
		var uid, spiIn, spiOut uint32
		if n, _ := fmt.Sscanf(ev.Reason, "replaces CHILD_SA %d (SPIs %08x/%08x)", &uid, &spiIn, &spiOut); n == 3 {
			old.Set("uniqueid", strconv.FormatUint(uint64(uid), 10)).
				Set("spi-in", fmt.Sprintf("%08x", spiIn)).Set("spi-out", fmt.Sprintf("%08x", spiOut))
		}
		m.SetSection("child-sas", vici.NewMessage().SetSection(child,
			vici.NewMessage().SetSection("old", old).SetSection("new", next)))
		srv.Publish("child-rekey", vici.NewMessage().SetSection(ev.Conn, m))
	}
}
