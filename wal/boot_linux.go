//go:build linux

package wal

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// bootIDFile holds the kernel's boot id, a random UUID drawn at each boot.
// A variable so that tests can stand in for a reboot.
var bootIDFile = "/proc/sys/kernel/random/boot_id"

// currentBoot returns the kernel's boot id.
func currentBoot() (string, error) {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return "", fmt.Errorf("read the boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\n") {
		return "", fmt.Errorf("read the boot id: %s holds %q, not an id", bootIDFile, b)
	}
	return id, nil
}

// statxMask is what identify asks statx for: the inode number, and the
// birth time where the filesystem keeps one.
const statxMask = unix.STATX_INO | unix.STATX_BTIME

// identify returns the identity of the file at path.
func identify(path string) (fileID, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_SYNC_AS_STAT, statxMask, &st); err != nil {
		return fileID{}, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	return fileIDOf(&st), nil
}

// identifyFile returns the identity of the open file f.
func identifyFile(f *os.File) (fileID, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return fileID{}, err
	}
	var st unix.Statx_t
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, statxMask, &st)
	}); err != nil {
		return fileID{}, err
	}
	if serr != nil {
		return fileID{}, &os.PathError{Op: "statx", Path: f.Name(), Err: serr}
	}
	return fileIDOf(&st), nil
}

func fileIDOf(st *unix.Statx_t) fileID {
	id := fileID{Dev: unix.Mkdev(st.Dev_major, st.Dev_minor), Ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.Born = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return id
}
