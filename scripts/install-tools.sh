#!/usr/bin/env bash
# Installs the system packages walrusfs's tests and mounts use, if they are
# missing and this is root on a Debian-like system. Without them walrusfs
# still mounts as root (it calls mount(2) directly); fusermount3 is needed
# only by non-root users, getfattr/setfattr only by people, and
# setfacl/getfacl and rsync only by the ACL tests. With "bench" it also
# installs what make bench's rows run: sqlite3, ffmpeg and strace.
set -u
want=()
command -v fusermount3 >/dev/null 2>&1 || want+=(fuse3)
command -v getfattr >/dev/null 2>&1 || want+=(attr)
command -v setfacl >/dev/null 2>&1 || want+=(acl)
command -v rsync >/dev/null 2>&1 || want+=(rsync)
if [ "${1:-}" = bench ]; then
	command -v sqlite3 >/dev/null 2>&1 || want+=(sqlite3)
	command -v ffmpeg >/dev/null 2>&1 || want+=(ffmpeg)
	command -v strace >/dev/null 2>&1 || want+=(strace)
fi
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "note: ${want[*]} not installed; continuing without (install them for non-root mounts)" >&2
	exit 0
fi
echo "installing ${want[*]}…" >&2
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"; } >/dev/null 2>&1; then
	echo "note: could not install ${want[*]}; continuing without" >&2
fi
exit 0
