package config_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cygnet-ipsec/cygnet/config"
)

// How the daemon loads its configuration: find the layout (flag, then
// $CYGNET_CONFDIR, then Debian's /etc, then RHEL's /etc/strongswan), load,
// report every diagnostic and hand Config to the engine.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "cygnet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "ipsec.conf"), []byte(`conn peer
	type=transport
	left=10.9.0.1
	right=10.9.0.2
	authby=secret
	esp=aes256gcm16!
	auto=start
	dpdtimeout=60s
`), 0o644)
	os.WriteFile(filepath.Join(dir, "ipsec.secrets"), []byte("10.9.0.1 10.9.0.2 : PSK \"an example key, not a real one\"\n"), 0o600)

	layout, err := config.FindLayout(dir)
	if err != nil {
		log.Fatal(err)
	}
	loaded, diags := config.Load(layout, nil)
	for _, d := range diags {
		if d.Severity >= config.Warning {
			fmt.Println(filepath.Base(d.File), d.Line, d.Severity, d.Keyword)
		}
	}
	if err := diags.Err(); err != nil {
		log.Fatal(err) // a daemon refuses to start on errors
	}
	for _, c := range loaded.Config.Connections {
		fmt.Println(c.Name, c.Mode, c.Auto, c.Local.Host, c.Remote.Host, len(c.ESP), c.ESPStrict)
	}
	// Output:
	// ipsec.conf 8 warning dpdtimeout
	// peer transport start 10.9.0.1 10.9.0.2 1 true
}
