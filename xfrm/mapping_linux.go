package xfrm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// UpdateEncap implements EncapUpdater. The kernel's UPDSA takes only the
// encapsulation and the lifetimes from the request, keeping the installed
// keys and counters, but it validates the request as a whole state, keys
// included; so the state's own keys are read back with GETSA, sent
// unchanged, and cleared from memory afterwards.
func (h *Handle) UpdateEncap(ctx context.Context, s *State) error {
	if s.Encap == nil {
		return invalid("update encapsulation of spi 0x%08x: no encapsulation given", s.SPI)
	}
	enc, integ, err := h.stateKeys(ctx, s.ID())
	if err != nil {
		return err
	}
	u := *s
	u.EncKey, u.IntegKey = enc, integ
	defer clear(enc)
	defer clear(integ)
	return h.UpdateState(ctx, &u)
}

// StatePackets implements UsageReader.
func (h *Handle) StatePackets(ctx context.Context, id StateID) (uint64, error) {
	m, _, err := h.getState(ctx, id)
	if err != nil {
		return 0, err
	}
	s, err := parseState(m)
	if err != nil {
		return 0, err
	}
	return s.Packets, nil
}

// getState reads one installed state: the message and a description of
// the request for errors.
func (h *Handle) getState(ctx context.Context, id StateID) ([]byte, string, error) {
	if !id.Dst.IsValid() || id.SPI == 0 {
		return nil, "", invalid("get state: missing destination or spi")
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	msg := &nl.XfrmUsersaId{Spi: nl.Swap32(id.SPI), Family: family(id.Dst), Proto: unix.IPPROTO_ESP}
	putAddr(&msg.Daddr, id.Dst)
	req := h.request(nl.XFRM_MSG_GETSA, 0)
	req.AddData(msg)
	op := fmt.Sprintf("get state spi 0x%08x dst %v", id.SPI, id.Dst)
	msgs, err := h.exec(ctx, req, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return nil, op, kernelErr(op, err)
	}
	if len(msgs) != 1 || len(msgs[0]) < nl.SizeofXfrmUsersaInfo {
		return nil, op, fmt.Errorf("xfrm: %s: unexpected answer", op)
	}
	return msgs[0], op, nil
}

// stateKeys reads the keys of one installed state.
func (h *Handle) stateKeys(ctx context.Context, id StateID) (enc, integ []byte, err error) {
	m, op, err := h.getState(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return parseKeys(m[nl.SizeofXfrmUsersaInfo:], op)
}

// parseKeys extracts the keys from a state's attributes: struct
// xfrm_algo_aead and xfrm_algo_auth hold 64 bytes of name, the key length
// in bits and the ICV or truncation length before the key, struct
// xfrm_algo only the name and the length (include/uapi/linux/xfrm.h).
func parseKeys(b []byte, op string) (enc, integ []byte, err error) {
	attrs, err := parseAttrs(b)
	if err != nil {
		return nil, nil, fmt.Errorf("xfrm: %s: %w", op, err)
	}
	key := func(v []byte, hdr int) ([]byte, error) {
		if len(v) < hdr {
			return nil, errors.New("short algorithm attribute")
		}
		bits := binary.NativeEndian.Uint32(v[64:68])
		if bits%8 != 0 || int(bits/8) > len(v)-hdr {
			return nil, fmt.Errorf("key length %d bits overruns the attribute", bits)
		}
		return append([]byte(nil), v[hdr:hdr+int(bits/8)]...), nil
	}
	for _, a := range attrs {
		var err error
		switch a.Type {
		case nl.XFRMA_ALG_AEAD:
			enc, err = key(a.Value, 72)
		case nl.XFRMA_ALG_CRYPT:
			enc, err = key(a.Value, 68)
		case nl.XFRMA_ALG_AUTH_TRUNC:
			integ, err = key(a.Value, 72)
		}
		if err != nil {
			clear(enc)
			clear(integ)
			return nil, nil, fmt.Errorf("xfrm: %s: %w", op, err)
		}
	}
	if enc == nil {
		return nil, nil, fmt.Errorf("xfrm: %s: %w: the state has no keys (larval?)", op, ErrNotFound)
	}
	return enc, integ, nil
}

var (
	_ EncapUpdater = (*Handle)(nil)
	_ UsageReader  = (*Handle)(nil)
)
