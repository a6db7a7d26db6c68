package config

import "reflect"

// Changes compares two readings of ipsec.conf by conn name, as strongSwan's
// "ipsec update" does: a conn is changed when any of its effective values
// differs (where it was written does not count). Names keep file order.
func Changes(old, cur *IPsecConf) (added, removed, changed []string) {
	for _, c := range cur.Conns {
		o := old.Conn(c.Name)
		switch {
		case o == nil:
			added = append(added, c.Name)
		case !sameConn(o, c):
			changed = append(changed, c.Name)
		}
	}
	for _, o := range old.Conns {
		if cur.Conn(o.Name) == nil {
			removed = append(removed, o.Name)
		}
	}
	return added, removed, changed
}

func sameConn(a, b *Conn) bool {
	x, y := *a, *b
	x.Pos, y.Pos = Pos{}, Pos{}
	x.Settings, y.Settings = nil, nil
	x.pos, y.pos = nil, nil
	return reflect.DeepEqual(x, y)
}
