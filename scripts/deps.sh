#!/usr/bin/env bash
# Installs every Debian package cygnet's tests need, on a fresh Debian/Ubuntu machine; a no-op (and no root
# needed) when they are all present already. Run as root, or as a user with sudo.
#
#   qemu-system-x86 busybox-static cpio kmod  the real-kernel guest (internal/vm): emulator, initramfs, modules
#   dpkg xz-utils                             unpacking the guest kernel package
#   iproute2 iputils-ping tcpdump util-linux  namespaces, veth, XFRM inspection, captures, nsenter
#   nftables                                  filtering/NAT in test topologies
#   iptables                                  leftfirewall=yes rules (as strongSwan's default updown)
#   strongswan strongswan-starter             the reference IKEv2 peer (charon, ipsec.conf, ipsec start)
#   strongswan-swanctl charon-cmd             swanctl/vici and the one-shot initiator
#   libcharon-extra-plugins                   extra charon plugins the interop scenarios load
#   libstrongswan-standard-plugins            openssl (ECP groups), gcm, ... for charon
#   libstrongswan-extra-plugins               curve25519 for charon
#   openssl                                   the command ike/auth's tests cross-check signatures and files with
#
# The guest kernel itself is not installed: internal/vm downloads linux-image-amd64's current version with
# `apt-get download` into its cache, so apt's package lists must know linux-image-amd64 (checked below).
set -euo pipefail

packages=(
	qemu-system-x86 busybox-static cpio kmod dpkg xz-utils
	iproute2 iputils-ping tcpdump util-linux nftables iptables conntrack
	strongswan strongswan-starter strongswan-swanctl charon-cmd libcharon-extra-plugins
	libstrongswan-standard-plugins libstrongswan-extra-plugins openssl
)

missing=()
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
for p in "${packages[@]}"; do
	if ! grep -qx "$p install ok installed" <<<"$installed"; then
		missing+=("$p")
	fi
done
# apt-cache must know the kernel meta package, or the guest kernel cannot be fetched.
kernel_known=1
if ! apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1; then
	kernel_known=0
fi

if [ ${#missing[@]} -eq 0 ] && [ $kernel_known -eq 1 ]; then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi

if ! command -v apt-get >/dev/null; then
	echo "deps: apt-get not found: install these by hand: ${missing[*]:-(none)} (and make linux-image-amd64 downloadable)" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "deps: missing packages (${missing[*]:-none}) and not root: run scripts/deps.sh as root" >&2
		exit 1
	fi
fi

echo "deps: installing: ${missing[*]:-(nothing; refreshing package lists for linux-image-amd64)}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
	echo "deps: apt does not know linux-image-amd64 (needed for the test guest's kernel); check /etc/apt/sources.list" >&2
	exit 1
fi
echo "deps: done"
