#!/usr/bin/env bash
# Builds the tiny bootable VPS template for the real-VM test: a Debian cloud kernel and a busybox
# initrd whose init prints a banner on the serial console (ttyS0) and powers the guest off when
# the ACPI power button is pressed (virDomainShutdown), through busybox acpid.
#
#   build_tiny_template.sh OUTDIR   -> OUTDIR/vmlinuz, OUTDIR/initrd.gz, OUTDIR/disk.qcow2
#
# Needs (Debian): linux-image-cloud-amd64, busybox-static, cpio, qemu-utils (qemu-img).
# Prints the kernel version on success; exits 2 naming what is missing otherwise.
set -euo pipefail

out=${1:?usage: build_tiny_template.sh OUTDIR}
mkdir -p "$out"

kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$kernel" ] && [ -r "$kernel" ] || { echo "missing: linux-image-cloud-amd64 (/boot/vmlinuz-*-cloud-amd64)" >&2; exit 2; }
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver/kernel
busybox=/bin/busybox
# grep without -q reads the whole list: with -q it exits at the match, busybox can get SIGPIPE, and
# pipefail then fails the check (seen in CI).
[ -x "$busybox" ] && "$busybox" --list | grep -x acpid >/dev/null || { echo "missing: busybox-static with acpid" >&2; exit 2; }
command -v cpio >/dev/null || { echo "missing: cpio" >&2; exit 2; }
command -v qemu-img >/dev/null || { echo "missing: qemu-img (qemu-utils)" >&2; exit 2; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules,etc/acpi/PWRF,var/run,var/log}
cp "$busybox" "$root/bin/busybox"
# The ACPI power button and the input events acpid reads are modules in the cloud kernel.
for m in drivers/input/evdev.ko drivers/acpi/button.ko; do
  src="$moddir/$m"
  if [ -f "$src" ]; then cp "$src" "$root/lib/modules/"
  elif [ -f "$src.xz" ]; then xz -dc "$src.xz" > "$root/lib/modules/$(basename "$m")"
  else echo "missing: kernel module $m for $kver" >&2; exit 2; fi
done

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
insmod /lib/modules/evdev.ko
insmod /lib/modules/button.ko
exec >/dev/ttyS0 2>&1
echo "hostplane-tiny: booted kernel $(uname -r) on $(cat /proc/cpuinfo | grep -c ^processor) vCPU, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
# The power button shows up as an input device once button.ko is loaded; wait for it. The waits
# are long (60 s) because QEMU TCG on a loaded CI host can be slow; each says if it ran out.
i=0
while ! grep -q "Power Button" /proc/bus/input/devices 2>/dev/null && [ $i -lt 600 ]; do
  sleep 0.1; i=$((i + 1))
done
[ $i -lt 600 ] || echo "hostplane-tiny: no power button input device after 60 s"
acpid -f -d -c /etc/acpi >/dev/null 2>&1 &
pid=$!
# "ready" only once acpid listens: a power-button press before that would be lost.
i=0
while ! ls -l /proc/$pid/fd 2>/dev/null | grep /dev/input/event >/dev/null && [ $i -lt 600 ]; do
  sleep 0.1; i=$((i + 1))
done
if [ $i -lt 600 ]; then echo "hostplane-tiny: acpid listens"
else echo "hostplane-tiny: acpid has no input event device open after 60 s"; fi
echo "hostplane-tiny: ready"
while true; do sleep 3600; done
INIT
cat > "$root/etc/acpi/PWRF/00000080" <<'ACT'
#!/bin/sh
echo "hostplane-tiny: ACPI power button, powering off" >/dev/ttyS0
sync
poweroff -f
ACT
chmod 755 "$root/init" "$root/etc/acpi/PWRF/00000080"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$out/initrd.gz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
cp "$kernel" "$out/vmlinuz"
# The template's base disk: the VPS disk is a copy-on-write overlay on it (the guest ignores it).
[ -f "$out/disk.qcow2" ] || qemu-img create -q -f qcow2 "$out/disk.qcow2" 64M
chmod 644 "$out/vmlinuz" "$out/initrd.gz" "$out/disk.qcow2"
echo "$kver"
