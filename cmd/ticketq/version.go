package main

import (
	"fmt"
	"runtime/debug"
)

// version describes the build from the information the Go toolchain embeds.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "ticketq (unknown build)"
	}
	rev, modified := "unknown", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	return fmt.Sprintf("ticketq %s (commit %s%s, %s)", info.Main.Version, rev, modified, info.GoVersion)
}
