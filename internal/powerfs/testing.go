package powerfs

import (
	"errors"
	"os"
	"testing"
)

// RequireEnv names the environment variable that turns a machine without
// FUSE into a test failure instead of a skip; CI sets it (.ci/run).
const RequireEnv = "TICKETQ_REQUIRE_FUSE"

// MountForTest mounts a powerfs at mountpoint over backing for the
// length of the test. Where this machine cannot mount FUSE, the test is
// skipped with the reason, unless TICKETQ_REQUIRE_FUSE=1 makes that a
// failure. A mount still up when the test ends is unmounted cleanly.
func MountForTest(t testing.TB, mountpoint, backing string, opts Options) *FS {
	t.Helper()
	p, err := Mount(mountpoint, backing, opts)
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v, and %s=1 requires it", err, RequireEnv)
		}
		t.Skipf("%v: the power-cut tests need FUSE (/dev/fuse, and root or fusermount)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Unmount(); err != nil {
			t.Errorf("unmount powerfs: %v", err)
		}
	})
	return p
}
