package xfrm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Sizes of the kernel's event structures (include/uapi/linux/xfrm.h).
const (
	sizeofUserAcquire = nl.SizeofXfrmId + nl.SizeofXfrmAddress + nl.SizeofXfrmSelector + nl.SizeofXfrmUserpolicyInfo + 16
	sizeofUserMapping = nl.SizeofXfrmUsersaId + 4 + 2*nl.SizeofXfrmAddress + 4
)

// Watch subscribes to EXPIRE, ACQUIRE and MAPPING notifications of the
// handle's namespace and delivers them on the returned channel until ctx
// is done; the channel is then closed. Errors reading the socket end the
// watch and are reported on the error channel.
func (h *Handle) Watch(ctx context.Context) (<-chan Event, <-chan error, error) {
	s, err := nl.SubscribeAt(h.ns, netns.None(), unix.NETLINK_XFRM,
		nl.XFRMNLGRP_EXPIRE, nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_MAPPING)
	if err != nil {
		return nil, nil, fmt.Errorf("xfrm: subscribe to events in %s: %w", h.nsPath, err)
	}
	// A receive timeout lets the reader notice ctx without closing the fd
	// under a blocked recvfrom.
	tv := unix.NsecToTimeval(int64(200e6))
	if err := s.SetReceiveTimeout(&tv); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("xfrm: event socket timeout: %w", err)
	}
	_ = s.SetReceiveBufferSize(1<<20, false)
	ch := make(chan Event, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		defer s.Close()
		for ctx.Err() == nil {
			msgs, _, err := s.Receive()
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				if errors.Is(err, unix.ENOBUFS) {
					// The kernel dropped events; keep watching. Callers
					// reconcile periodically anyway.
					continue
				}
				errc <- fmt.Errorf("xfrm: events in %s: %w", h.nsPath, err)
				return
			}
			for _, m := range msgs {
				ev, ok := parseEvent(m.Header.Type, m.Data)
				if !ok {
					continue
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, errc, nil
}

// parseEvent decodes one notification; unknown or short messages are
// ignored (ok false) rather than trusted.
func parseEvent(typ uint16, b []byte) (Event, bool) {
	switch typ {
	case nl.XFRM_MSG_EXPIRE:
		if len(b) < nl.SizeofXfrmUserExpire {
			return Event{}, false
		}
		e := nl.DeserializeXfrmUserExpire(b)
		info := &e.XfrmUsersaInfo
		ev := Event{Type: EventSoftExpire, SPI: nl.Swap32(info.Id.Spi), ReqID: info.Reqid,
			Src: getAddr(&info.Saddr, info.Family), Dst: getAddr(&info.Id.Daddr, info.Family)}
		if e.Hard != 0 {
			ev.Type = EventHardExpire
		}
		return ev, true
	case nl.XFRM_MSG_ACQUIRE:
		if len(b) < sizeofUserAcquire {
			return Event{}, false
		}
		id := nl.DeserializeXfrmId(b[:nl.SizeofXfrmId])
		saddr := nl.DeserializeXfrmAddress(b[nl.SizeofXfrmId:])
		sel := nl.DeserializeXfrmSelector(b[nl.SizeofXfrmId+nl.SizeofXfrmAddress:])
		pol := nl.DeserializeXfrmUserpolicyInfo(b[nl.SizeofXfrmId+nl.SizeofXfrmAddress+nl.SizeofXfrmSelector:])
		fam := sel.Family
		if fam == 0 {
			fam = pol.Sel.Family
		}
		ev := Event{Type: EventAcquire, Src: getAddr(saddr, fam), Dst: getAddr(&id.Daddr, fam), Selector: getSelector(&pol.Sel)}
		// The template's reqid follows the fixed part as an XFRMA_TMPL attribute.
		if attrs, err := parseAttrs(b[sizeofUserAcquire:]); err == nil {
			for _, a := range attrs {
				if a.Type == nl.XFRMA_TMPL && len(a.Value) >= nl.SizeofXfrmUserTmpl {
					ev.ReqID = nl.DeserializeXfrmUserTmpl(a.Value).Reqid
				}
			}
		}
		return ev, true
	case nl.XFRM_MSG_MAPPING:
		if len(b) < sizeofUserMapping {
			return Event{}, false
		}
		id := nl.DeserializeXfrmUsersaId(b[:nl.SizeofXfrmUsersaId])
		off := nl.SizeofXfrmUsersaId
		reqid := binary.NativeEndian.Uint32(b[off:])
		off += 4
		oldA := nl.DeserializeXfrmAddress(b[off:])
		newA := nl.DeserializeXfrmAddress(b[off+nl.SizeofXfrmAddress:])
		off += 2 * nl.SizeofXfrmAddress
		return Event{Type: EventMapping, SPI: nl.Swap32(id.Spi), ReqID: reqid,
			Src: getAddr(oldA, id.Family), Dst: getAddr(newA, id.Family),
			OldPort: binary.BigEndian.Uint16(b[off:]), NewPort: binary.BigEndian.Uint16(b[off+2:])}, true
	}
	return Event{}, false
}
