package ike_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
)

// TestLoadedConfig runs the engine on configurations read from strongSwan
// files by package config, the way the daemon will: the same ipsec.conf
// on both nodes, each finding its own end by its local address.
func TestLoadedConfig(t *testing.T) {
	conf := `config setup
	uniqueids=no

conn %default
	keyexchange=ikev2
	ike=aes256gcm16-prfsha384-ecp384!
	esp=aes256gcm16!

conn ab
	left=10.0.0.1
	right=10.0.0.2
	type=transport
	authby=secret
	auto=add
`
	secrets := "10.0.0.1 10.0.0.2 : PSK \"loaded from ipsec.secrets\"\n"
	load := func(local netip.Addr) *ike.Config {
		dir := t.TempDir()
		for name, data := range map[string]string{"ipsec.conf": conf, "ipsec.secrets": secrets} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		l, diags := config.Load(config.LayoutAt(dir), &config.Options{LocalAddrs: func() ([]netip.Addr, error) { return []netip.Addr{local}, nil }})
		if diags.HasErrors() {
			t.Fatalf("load: %v", diags)
		}
		return &l.Config
	}
	ca, cb := load(addrA), load(addrB)
	p := newPair(t, func(a, b *ike.Config) { *a, *b = *ca, *cb })
	if err := p.initiate(t); err != nil {
		t.Fatalf("%v\n%s\n%s", err, p.a.log.String(), p.b.log.String())
	}
	sa := established(t, p.a)
	if sa.Proposal != "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384" || len(sa.Children) != 1 {
		t.Errorf("status %+v", sa)
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if len(p.a.kernel.Policies()) != 2 {
		t.Errorf("policies: %v", p.a.kernel.Render())
	}
}
