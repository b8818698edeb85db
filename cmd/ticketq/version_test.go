package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// Ensure that the build settings the toolchain records are read into the
// right fields, and that their absence falls back to the runtime's values.
func TestBuildInfoFrom(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-23T13:49:19Z"},
		{Key: "vcs.modified", Value: "true"},
		{Key: "GOOS", Value: "plan9"}, {Key: "GOARCH", Value: "arm"},
		{Key: "CGO_ENABLED", Value: "1"},
	}}
	want := buildInfo{Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-11-23T13:49:19Z",
		Modified: true, GoVersion: "go1.99.1", OS: "plan9", Arch: "arm", CGO: true}
	if got := buildInfoFrom(info); got != want {
		t.Fatalf("buildInfoFrom = %+v, want %+v", got, want)
	}
	text := want.text()
	for _, line := range []string{"ticketq v1.2.3\n", "commit    0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)\n",
		"committed 2026-11-23T13:49:19Z\n", "go        go1.99.1\n", "platform  plan9/arm\n", "cgo       enabled\n"} {
		if !strings.Contains(text, line) {
			t.Fatalf("text lacks %q:\n%s", line, text)
		}
	}

	bare := buildInfoFrom(&debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}}})
	if bare.Version != "unknown" || bare.GoVersion != runtime.Version() || bare.OS != runtime.GOOS || bare.Arch != runtime.GOARCH || bare.CGO || bare.Revision != "" {
		t.Fatalf("without settings: %+v", bare)
	}
	if !strings.Contains(bare.text(), "commit    unknown (built without VCS information)\n") || !strings.Contains(bare.text(), "cgo       disabled\n") {
		t.Fatalf("text without settings:\n%s", bare.text())
	}
	if nilInfo := buildInfoFrom(nil); nilInfo.Version != "unknown" || nilInfo.GoVersion != runtime.Version() {
		t.Fatalf("without build information: %+v", nilInfo)
	}
}

// Ensure that the real binary reports its toolchain and platform, and the
// commit it was built from, as JSON and as text.
func TestVersion_Binary(t *testing.T) {
	out, err := exec.Command(benchBinary, "version", "--json").Output()
	must(t, err)
	var b buildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	if b.GoVersion != runtime.Version() || b.OS != runtime.GOOS || b.Arch != runtime.GOARCH || b.Version == "" {
		t.Fatalf("version --json = %+v, want %s %s/%s", b, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	text, err := exec.Command(benchBinary, "version").Output()
	must(t, err)
	if !strings.HasPrefix(string(text), "ticketq "+b.Version+"\n") || !strings.Contains(string(text), "platform  "+b.OS+"/"+b.Arch+"\n") {
		t.Fatalf("version:\n%s", text)
	}
	if alias, err := exec.Command(benchBinary, "--version").Output(); err != nil || string(alias) != string(text) {
		t.Fatalf("--version: %v\n%s", err, alias)
	}
}

// Ensure that a binary built with VCS stamping reports the commit it was
// built from. It builds its own: the shared test binary follows GOFLAGS,
// which may turn stamping off (-buildvcs=false).
func TestVersion_Revision(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git repository to compare with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ticketq")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	must(t, err)
	var b buildInfo
	must(t, json.Unmarshal(out, &b))
	if want := strings.TrimSpace(string(head)); b.Revision != want || b.Time == "" {
		t.Fatalf("vcs_revision %q at %q, want HEAD %q", b.Revision, b.Time, want)
	}
	text, err := exec.Command(bin, "version").Output()
	must(t, err)
	if !strings.Contains(string(text), "commit    "+b.Revision) || !strings.Contains(string(text), "committed "+b.Time+"\n") {
		t.Fatalf("version:\n%s", text)
	}
}

// Ensure that version refuses arguments it does not take.
func TestVersion_Usage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--jsn"}, 2, "flag provided but not defined: -jsn"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--help"}, 0, "Usage: ticketq version [--json]"},
	} {
		if code, _, errOut := runTool(t, nil, append([]string{"version"}, c.args...)...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("version %q: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, errOut)
		}
	}
}
