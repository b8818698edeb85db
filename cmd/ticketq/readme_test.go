package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// configRow is one row of the README's configuration table.
type configRow struct {
	env []string
	def string // as written, normalized by readmeDefault
}

// readmeConfigTable reads the rows of flags from the README's
// "## Configuration" table, by flag name.
func readmeConfigTable(t *testing.T) map[string]configRow {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("the README has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	code := regexp.MustCompile("`([^`]*)`")
	rows := map[string]configRow{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue
		}
		name := strings.TrimPrefix(strings.Fields(strings.Trim(strings.TrimSpace(cells[1]), "`"))[0], "--")
		var row configRow
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			row.env = append(row.env, m[1])
		}
		row.def = readmeDefault(strings.TrimSpace(cells[3]))
		rows[name] = row
	}
	return rows
}

// readmeDefault turns a default as the README writes it into the flag's
// DefValue: "—" is empty, "automatic" is a switch's false, "off" is either
// (see sameDefault), "the rate, rounded up" is burst's 0, else the first
// `value`.
func readmeDefault(s string) string {
	switch s {
	case "—":
		return ""
	case "automatic":
		return "false"
	case "off":
		return "off"
	case "the rate, rounded up":
		return "0"
	}
	if m := regexp.MustCompile("`([^`]*)`").FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

// sameDefault compares defaults, durations by value (10m is 10m0s).
func sameDefault(readme, flag string) bool {
	if readme == flag || (readme == "off" && (flag == "" || flag == "false")) {
		return true
	}
	a, errA := time.ParseDuration(readme)
	b, errB := time.ParseDuration(flag)
	return errA == nil && errB == nil && a == b
}

// Ensure that the README's configuration table lists every setting of
// serve with the variables and the default that --help shows, and nothing
// else: one truth for the flags, their variables and their defaults.
func TestReadme_ConfigurationTable(t *testing.T) {
	rows := readmeConfigTable(t)
	if _, ok := rows["queue"]; !ok {
		t.Error("the table has no --queue row")
	}
	delete(rows, "queue") // per-queue settings: their own table above
	for _, s := range newConfig().settings() {
		row, ok := rows[s.flag]
		if !ok {
			t.Errorf("--%s is missing from the README's table", s.flag)
			continue
		}
		delete(rows, s.flag)
		if !slices.Equal(row.env, s.env) {
			t.Errorf("--%s: the README lists the variables %v, --help %v", s.flag, row.env, s.env)
		}
		if def := s.value.String(); !sameDefault(row.def, def) {
			t.Errorf("--%s: the README's default is %q, --help's %q", s.flag, row.def, def)
		}
	}
	for name := range rows {
		t.Errorf("the README lists --%s, which serve does not have", name)
	}
}
