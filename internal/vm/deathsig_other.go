//go:build !linux

package vm

import "os/exec"

// killWithParent does nothing: only Linux has a parent-death signal. The
// guests need a Linux host anyway (the userland they boot is the host's);
// this file lets the packages whose tests import vm build elsewhere.
func killWithParent(*exec.Cmd) {}
