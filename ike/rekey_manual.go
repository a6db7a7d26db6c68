package ike

// RekeyIKE starts rekeying (or, with reauth, reauthenticating) the
// established IKE SAs of the named connection, or the one whose unique id
// is id when id is not 0, as strongSwan's `swanctl --rekey --ike` does.
// The exchanges run in the background; RekeyIKE returns how many SAs it
// started on. An SA already being rekeyed or busy with another exchange
// counts: its rekey follows when that is done.
func (e *Engine) RekeyIKE(name string, id uint32, reauth bool) int {
	n := 0
	for _, sa := range e.snapshot() {
		sa.lock()
		match := sa.state == stateEstablished && sa.rekeyedTo == nil &&
			(id != 0 && sa.uid == id || id == 0 && name != "" && sa.connName() == name)
		if match {
			n++
			if reauth {
				sa.reauthDue()
			} else {
				sa.ikeRekeyDue()
			}
		}
		sa.unlock()
	}
	return n
}

// RekeyChild starts rekeying the installed CHILD_SAs of the named
// connection, or the one whose unique id is id when id is not 0 (`swanctl
// --rekey --child`). It returns how many CHILD_SAs it started on.
func (e *Engine) RekeyChild(name string, id uint32) int {
	n := 0
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.state == stateEstablished && sa.rekeyedTo == nil {
			for _, ch := range append([]*childSA(nil), sa.children...) {
				if !ch.installed || ch.replaced || ch.deleting {
					continue
				}
				if id != 0 && ch.uid == id || id == 0 && name != "" && sa.connName() == name {
					n++
					sa.childRekeyDue(ch, "manual")
				}
			}
		}
		sa.unlock()
	}
	return n
}
