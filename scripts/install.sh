#!/usr/bin/env bash
# make install: the static binary as /usr/sbin/cygnet, `ipsec` and `strongswan`
# symlinks to it, and the systemd units under both names runbooks use.
# Refuses to overwrite a file that an installed package owns (strongSwan's
# own ipsec script or units) unless FORCE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${DESTDIR:-}
sbin=$prefix/usr/sbin
unitdir=$prefix/lib/systemd/system
targets=("$sbin/cygnet" "$sbin/ipsec" "$sbin/strongswan" "$unitdir/strongswan-starter.service" "$unitdir/strongswan.service" "$unitdir/ipsec.service" "$unitdir/cygnet-cluster.service")

owner() {
	local f=$1
	if command -v dpkg-query >/dev/null && dpkg-query -S "$f" >/dev/null 2>&1; then
		dpkg-query -S "$f" 2>/dev/null | head -1 | cut -d: -f1
	elif command -v rpm >/dev/null && rpm -qf "$f" >/dev/null 2>&1; then
		rpm -qf "$f"
	fi
}

if [ "${FORCE:-0}" != 1 ]; then
	refused=0
	for f in "${targets[@]}"; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			pkg=$(owner "${f#$prefix}")
			if [ -n "$pkg" ]; then
				echo "install: $f belongs to the installed package $pkg; remove it or run make install FORCE=1" >&2
				refused=1
			fi
		fi
	done
	[ $refused = 0 ] || exit 1
fi
[ -x bin/cygnet ] || make --no-print-directory build
install -D -m 0755 bin/cygnet "$sbin/cygnet"
ln -sfn cygnet "$sbin/ipsec"
ln -sfn cygnet "$sbin/strongswan"
install -D -m 0644 init/strongswan-starter.service "$unitdir/strongswan-starter.service"
install -D -m 0644 init/strongswan.service "$unitdir/strongswan.service"
ln -sfn strongswan-starter.service "$unitdir/ipsec.service"
install -D -m 0644 init/cygnet-cluster.service "$unitdir/cygnet-cluster.service"
echo "installed cygnet to $sbin (ipsec, strongswan -> cygnet) and units to $unitdir"
