package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Daemon is the node's IKE daemon as the agent drives it: the local cygnet
// daemon or strongSwan's charon, both through strongSwan's ipsec command,
// so a cluster can mix them while it migrates.
type Daemon interface {
	// Apply makes the daemon load the files just written (ipsec update and
	// rereadsecrets): unchanged conns keep their SAs.
	Apply(ctx context.Context) error
	// Up asks for the SA of conn now rather than at the first packet.
	Up(ctx context.Context, conn string) error
	// Status is what the daemon has per conn.
	Status(ctx context.Context) (map[string]PairStatus, error)
	// Info names the daemon and whether the kernel can do ESP.
	Info(ctx context.Context) (kind, version string, esp bool)
}

// IpsecCommand drives a daemon through its ipsec command.
type IpsecCommand struct {
	Path    string // "ipsec" (strongSwan's script or cygnet's link)
	ConfDir string // passed as --confdir when set (cygnet only)
}

func (c IpsecCommand) run(ctx context.Context, args ...string) (string, error) {
	if c.ConfDir != "" {
		args = append([]string{"--confdir", c.ConfDir}, args...)
	}
	cmd := exec.CommandContext(ctx, c.Path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("cluster: %s %s: %w: %s", c.Path, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Apply implements Daemon.
func (c IpsecCommand) Apply(ctx context.Context) error {
	if _, err := c.run(ctx, "rereadsecrets"); err != nil {
		return err
	}
	// charon reads ipsec.d/cacerts only when it starts and on
	// rereadcacerts (ipsec update reloads conns and their leftcert, not the
	// CAs): without it a charon that was running before the agent wrote the
	// cluster CA trusts no peer. cygnet reads ipsec.d/ on every reload.
	if out, _ := c.run(ctx, "version"); daemonKind(out) == "strongswan" {
		if _, err := c.run(ctx, "rereadcacerts"); err != nil {
			return err
		}
	}
	_, err := c.run(ctx, "update")
	return err
}

// Up implements Daemon. It does not wait for the answer: the next status
// report shows the result.
func (c IpsecCommand) Up(ctx context.Context, conn string) error {
	_, err := c.run(ctx, "up", conn)
	return err
}

// Status implements Daemon by parsing statusall, whose layout cygnet and
// strongSwan share.
func (c IpsecCommand) Status(ctx context.Context) (map[string]PairStatus, error) {
	out, err := c.run(ctx, "statusall")
	if err != nil {
		return nil, err
	}
	return ParseStatus(out), nil
}

// Info implements Daemon.
func (c IpsecCommand) Info(ctx context.Context) (string, string, bool) {
	out, _ := c.run(ctx, "version")
	kind, version := daemonKind(out), strings.TrimSpace(out)
	if i := strings.IndexByte(version, '\n'); i >= 0 {
		version = version[:i]
	}
	return kind, version, kernelHasESP()
}

// daemonKind names the daemon from its `ipsec version`: cygnet's says
// "cygnet ... (strongSwan 5.9.8 compatible)", so cygnet is checked first.
func daemonKind(version string) string {
	switch {
	case strings.Contains(version, "cygnet"):
		return "cygnet"
	case strings.Contains(version, "strongSwan"):
		return "strongswan"
	}
	return "unknown"
}

// kernelHasESP: the ESP transforms are modules on stock kernels; a kernel
// without them keys IKE but cannot install a single ESP state.
func kernelHasESP() bool {
	_ = exec.Command("modprobe", "-q", "esp4").Run()
	if _, err := os.Stat("/sys/module/esp4"); err == nil {
		return true
	}
	b, err := os.ReadFile("/proc/modules")
	return err == nil && bytes.Contains(b, []byte("esp4 "))
}

var (
	statusLine = regexp.MustCompile(`^\s*(cyg-[a-z0-9.-]+)(\[\d+\]|\{\d+\}):\s+(.*)$`)
	bytesRe    = regexp.MustCompile(`(\d+) bytes_i.*?(\d+) bytes_o`)
	spisRe     = regexp.MustCompile(`SPIs: ([0-9a-f]+_i) ([0-9a-f]+_o)`)
	agoRe      = regexp.MustCompile(`ESTABLISHED (.+?) ago`)
)

// ParseStatus reads the per-conn state of the cluster's conns from ipsec
// statusall output.
func ParseStatus(out string) map[string]PairStatus {
	m := map[string]PairStatus{}
	ike := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		g := statusLine.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		name, rest := g[1], g[3]
		ps := m[name]
		if g[2][0] == '[' {
			switch {
			case strings.HasPrefix(rest, "ESTABLISHED"):
				ike[name] = "ESTABLISHED"
				if a := agoRe.FindStringSubmatch(rest); a != nil {
					ps.SAAge = a[1]
				}
			case strings.HasPrefix(rest, "CONNECTING"), strings.HasPrefix(rest, "CREATED"):
				if ike[name] == "" {
					ike[name] = "connecting"
				}
			}
		} else {
			switch {
			case strings.HasPrefix(rest, "INSTALLED"):
				ps.State = "ESTABLISHED"
				if s := spisRe.FindStringSubmatch(rest); s != nil {
					ps.SPIs = s[1] + " " + s[2]
				}
			case strings.HasPrefix(rest, "ROUTED"):
				if ps.State == "" {
					ps.State = "routed"
				}
			}
			if bm := bytesRe.FindStringSubmatch(rest); bm != nil {
				in, _ := strconv.ParseUint(bm[1], 10, 64)
				outb, _ := strconv.ParseUint(bm[2], 10, 64)
				ps.BytesIn += in
				ps.BytesOut += outb
			}
		}
		m[name] = ps
	}
	for name, ps := range m {
		if ps.State == "" || ps.State == "routed" {
			if ike[name] == "connecting" || ike[name] == "ESTABLISHED" {
				ps.State = "connecting"
			}
		}
		if ps.State == "" {
			ps.State = "down"
		}
		m[name] = ps
	}
	return m
}
