package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/control"
)

// handle answers one `ipsec` command from the control socket. Printed
// lines follow strongSwan's wording where scripts grep them; exit codes are
// non-zero on failure (strongSwan 5.9.8 exits 0 even when `up` fails: a
// deliberate difference, documented in the README).
func (d *Daemon) handle(ctx context.Context, req control.Request, out io.Writer) int {
	arg := func() string {
		if len(req.Args) > 0 {
			return req.Args[0]
		}
		return ""
	}
	switch req.Command {
	case "status", "statusall":
		return d.cmdStatus(out, req.Command == "statusall", req.Args)
	case "up":
		return d.cmdUp(ctx, out, arg())
	case "down":
		return d.cmdDown(ctx, out, arg())
	case "route":
		if err := d.route(ctx, arg()); err != nil {
			fmt.Fprintln(out, err)
			return 1
		}
		fmt.Fprintf(out, "'%s' routed\n", arg())
		return 0
	case "unroute":
		if err := d.unroute(ctx, arg()); err != nil {
			fmt.Fprintln(out, err)
			return 1
		}
		fmt.Fprintf(out, "configuration '%s' unrouted\n", arg())
		return 0
	case "reload", "rereadall", "update":
		return d.cmdReload(ctx, out)
	case "rereadsecrets":
		return d.cmdRereadSecrets(ctx, out)
	case "purgeike":
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		fmt.Fprintf(out, "%d IKE_SA(s) without CHILD_SA deleted\n", d.engine.PurgeIKE(pctx))
		return 0
	case "stop":
		d.stop()
		select {
		case <-d.stopped:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(out, "daemon did not stop within 30 s")
			return 1
		}
		return 0
	}
	fmt.Fprintf(out, "unknown command '%s'\n", req.Command)
	return 2
}

func (d *Daemon) cmdUp(ctx context.Context, out io.Writer, name string) int {
	c := d.connByName(name)
	if c == nil {
		fmt.Fprintf(out, "no config named '%s'\n", name)
		return 1
	}
	fmt.Fprintf(out, "initiating IKE_SA %s to %v\n", name, c.Remote.Addr)
	ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := d.engine.Initiate(ictx, name); err != nil {
		fmt.Fprintln(out, err)
		fmt.Fprintf(out, "establishing connection '%s' failed\n", name)
		return 1
	}
	fmt.Fprintf(out, "connection '%s' established successfully\n", name)
	return 0
}

func (d *Daemon) cmdDown(ctx context.Context, out io.Writer, name string) int {
	if d.connByName(name) == nil {
		fmt.Fprintf(out, "no config named '%s'\n", name)
		return 1
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.engine.Terminate(tctx, name); err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	fmt.Fprintf(out, "IKE_SA '%s' closed successfully\n", name)
	return 0
}

func (d *Daemon) cmdStatus(out io.Writer, all bool, args []string) int {
	filter, asJSON := "", false
	for _, a := range args {
		if a == "--json" {
			asJSON = true
		} else {
			filter = a
		}
	}
	now := time.Now()
	st := d.engine.Status()
	sas := ikeViewsOf(st)
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		var sel []IKEView
		for _, sa := range sas {
			if filter == "" || sa.Name == filter {
				sel = append(sel, sa)
			}
		}
		enc.Encode(struct {
			Version  string       `json:"version"`
			SAs      []IKEView    `json:"sas"`
			Counters CountersView `json:"counters"`
		}{Version, sel, countersView(st.Counters)})
		return 0
	}
	if all {
		WriteStatusAll(out, now, d.daemonView(), d.connViews(), sas, filter)
	} else {
		WriteSAs(out, now, sas, false, filter)
	}
	return 0
}
