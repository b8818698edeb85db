package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildInfo describes the build, from what the Go toolchain embeds in the
// binary: what a bug report needs to name the exact code.
type buildInfo struct {
	// Version is the module version: a tag, a pseudo-version for a build
	// from a checkout, or "(devel)".
	Version string `json:"version"`
	// Revision, Time and Modified are the commit the binary was built from,
	// its time, and whether the tree had changes; empty when built without
	// VCS information (-buildvcs=false, or not from a checkout).
	Revision  string `json:"vcs_revision,omitempty"`
	Time      string `json:"vcs_time,omitempty"`
	Modified  bool   `json:"vcs_modified"`
	GoVersion string `json:"go_version"`
	OS        string `json:"goos"`
	Arch      string `json:"goarch"`
	CGO       bool   `json:"cgo_enabled"`
}

// readBuildInfo reads this binary's build information.
func readBuildInfo() buildInfo {
	info, _ := debug.ReadBuildInfo() // nil when not ok
	return buildInfoFrom(info)
}

// buildInfoFrom extracts the fields from info, which may be nil (a binary
// built without module support). What the toolchain did not record falls
// back to the running binary's runtime values, which are the same.
func buildInfoFrom(info *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: "unknown", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if info == nil {
		return b
	}
	if info.Main.Version != "" {
		b.Version = info.Main.Version
	}
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "GOOS":
			b.OS = s.Value
		case "GOARCH":
			b.Arch = s.Value
		case "CGO_ENABLED":
			b.CGO = s.Value == "1"
		}
	}
	return b
}

// text is the human-readable form, one "name  value" line each.
func (b buildInfo) text() string {
	commit := "unknown (built without VCS information)"
	if b.Revision != "" {
		commit = b.Revision
		if b.Modified {
			commit += " (with uncommitted changes)"
		}
	}
	cgo := "disabled"
	if b.CGO {
		cgo = "enabled"
	}
	s := fmt.Sprintf("ticketq %s\ncommit    %s\n", b.Version, commit)
	if b.Time != "" {
		s += fmt.Sprintf("committed %s\n", b.Time)
	}
	return s + fmt.Sprintf("go        %s\nplatform  %s/%s\ncgo       %s\n", b.GoVersion, b.OS, b.Arch, cgo)
}

// versionCmd prints the build information, as text or with --json.
func versionCmd(args []string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq version", "Usage: ticketq version [--json]\n\n"+
		"Prints the version, the commit and the toolchain the binary was built with.\n", stderr)
	asJSON := flags.Bool("json", false, "print the build information as one JSON object")
	flags.doc("json", "")
	pos, err := flags.parse(args, nil)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	b := readBuildInfo()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(b)
	}
	_, err = fmt.Fprint(stdout, b.text())
	return err
}
