#!/bin/sh
# Offsets and sizes of the kernel structures the simulator needs (the fault address of a NULL `struct device *`
# dereference or of a node that does not exist, the size of a platform device), measured in a built tree: compiles a C file with the exact
# command line Kbuild used for drivers/base/devres.o, one array per value, and reads the sizes with nm.
# Usage: listings/kernel/struct-offsets.sh KDIR > listings/kernel/struct-offsets.txt
set -eu
kdir=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/off.c" <<'C'
#include <linux/device.h>
#include <linux/platform_device.h>
#include <linux/mmzone.h>
#define V(name, value) char name[value] = { 1 };
V(device__numa_node, offsetof(struct device, numa_node))
V(device__dma_mask, offsetof(struct device, dma_mask))
V(device__dma_io_tlb_mem, offsetof(struct device, dma_io_tlb_mem))
V(device__coherent_dma_mask, offsetof(struct device, coherent_dma_mask))
V(device__devres_lock, offsetof(struct device, devres_lock))
V(device__devres_head, offsetof(struct device, devres_head))
V(device__driver, offsetof(struct device, driver))
V(sizeof_device, sizeof(struct device))
V(platform_device__dev, offsetof(struct platform_device, dev))
V(sizeof_platform_device, sizeof(struct platform_device))
V(sizeof_platform_driver, sizeof(struct platform_driver))
V(pglist_data__node_zonelists, offsetof(struct pglist_data, node_zonelists))
V(sizeof_zonelist, sizeof(struct zonelist))
V(zoneref__zone_idx, offsetof(struct zoneref, zone_idx))
C
cmd=$(sed -n 's/^savedcmd_drivers\/base\/devres.o := //p' "$kdir/drivers/base/.devres.o.cmd" |
    sed "s#-Wp,-MMD,[^ ]*##; s# -o drivers/base/devres.o # -o $tmp/off.o #; s# drivers/base/devres.c# $tmp/off.c#")
(cd "$kdir" && eval "$cmd")
echo "# Written by listings/kernel/struct-offsets.sh from the book's x86_64 build (name, value in bytes)."
nm -S "$tmp/off.o" | while read -r _ size _ name; do printf "%s 0x%x\n" "$(echo "$name" | sed "s/__/./")" "$((0x$size))"; done | sort
