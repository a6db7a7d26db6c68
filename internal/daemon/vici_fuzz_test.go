package daemon

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/vici"
)

// FuzzVICILoad feeds decoded messages to what load-conn, load-key and
// load-cert parse: whatever a client sends, they answer with an error,
// never a panic.
func FuzzVICILoad(f *testing.F) {
	conn := vici.NewMessage().SetSection("mesh", vici.NewMessage().
		Set("version", "2").SetList("local_addrs", []string{"10.0.0.1"}).SetList("remote_addrs", []string{"10.0.0.2"}).
		SetList("proposals", []string{"aes256gcm16-prfsha256-curve25519"}).
		SetSection("local", vici.NewMessage().Set("auth", "psk")).
		SetSection("remote", vici.NewMessage().Set("auth", "psk").Set("id", "CN=x")).
		SetSection("children", vici.NewMessage().SetSection("c", vici.NewMessage().
			Set("mode", "transport").SetList("local_ts", []string{"dynamic[tcp/80-90]"}).
			Set("rekey_time", "1h").Set("life_bytes", "100").Set("rekey_bytes", "90"))))
	for _, m := range []*vici.Message{conn, vici.NewMessage().Set("type", "ecdsa").Set("data", "\x30\x03\x02\x01\x01")} {
		b, err := m.AppendEncode(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := vici.DecodeMessage(b)
		if err != nil {
			return
		}
		for _, e := range m.Entries() {
			if e.Kind == vici.KindSection {
				parseVICIConn(e.Key, e.Section, 32)
			}
		}
		parseVICIKey(m.Get("type"), []byte(m.Get("data")))
		parseCerts(m.List("data"))
	})
}
