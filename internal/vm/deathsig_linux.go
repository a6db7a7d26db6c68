package vm

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel SIGKILL cmd when the OS thread that
// starts it exits (PR_SET_PDEATHSIG).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
