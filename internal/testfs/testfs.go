// Package testfs gives tests filesystems of their own to fill up or break.
package testfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on a fresh directory and unmounts it
// when the test ends. Mounting needs root (CAP_SYS_ADMIN): where it is
// refused, the test is skipped with the reason, the only way to fill a
// disk without filling the machine's.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOSYS) {
		t.Skipf("cannot mount a %d-byte tmpfs to fill (%v): run the tests as root to test a full disk", size, err)
	}
	if err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// A lazy unmount succeeds even if a killed child still held a file.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file into dir until the filesystem refuses with ENOSPC and
// returns its path; removing the file frees the space again.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// Ext4 makes an ext4 filesystem of size bytes on a loop device, mounts it
// with errors=remount-ro (as production systems do) on a fresh directory
// and undoes it all when the test ends. It returns the mount point and a
// function that makes the filesystem fail the way ext4 does after an I/O
// error: it turns read-only under the running process, so that every
// later write and fsync fails. Like Tmpfs it needs root, and loop devices.
func Ext4(t testing.TB, size int64) (dir string, fail func()) {
	t.Helper()
	base := t.TempDir()
	img := filepath.Join(base, "ext4.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device (%v: %s): run the tests as root on a machine with loop devices to test a failing disk", err, bytes.TrimSpace(out))
	}
	dev := string(bytes.TrimSpace(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v: %s", dev, err, out)
		}
	})
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", dev, err, out)
	}
	dir = filepath.Join(base, "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(dev, dir, "ext4", syscall.MS_NOSUID|syscall.MS_NODEV, "errors=remount-ro"); err != nil {
		t.Fatalf("mount %s on %s: %v", dev, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	// ext4 has a switch for exactly this: writing to it reports a
	// filesystem error, as a failed block write would.
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(dev), "trigger_fs_error")
	fail = func() {
		t.Helper()
		if err := os.WriteFile(trigger, []byte("ticketq test: injected failure\n"), 0); err != nil {
			t.Fatalf("make %s fail: %v", dir, err)
		}
	}
	return dir, fail
}

// Remount unmounts dir and mounts its device again after a repair with
// e2fsck, as an operator would after a failure; the data written before
// the failure is back.
func Remount(t testing.TB, dir string) {
	t.Helper()
	dev, err := deviceOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Unmount(dir, 0); err != nil {
		t.Fatalf("unmount %s: %v", dir, err)
	}
	// 1: errors were corrected, which is what a triggered error leaves.
	if out, err := exec.Command("e2fsck", "-f", "-y", dev).CombinedOutput(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() > 1 {
			t.Fatalf("e2fsck %s: %v: %s", dev, err, out)
		}
	}
	if err := syscall.Mount(dev, dir, "ext4", syscall.MS_NOSUID|syscall.MS_NODEV, "errors=remount-ro"); err != nil {
		t.Fatalf("mount %s on %s again: %v", dev, dir, err)
	}
}

// deviceOf returns the device mounted on dir, from /proc/self/mounts.
func deviceOf(dir string) (string, error) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == dir {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("nothing is mounted on %s", dir)
}
