package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// cmdFlags is a subcommand's flag set with what every --help shows beyond
// package flag's PrintDefaults: each flag's argument name and the
// environment variables that stand in for it, in the order the flags were
// declared. Every subcommand prints its help with printUsage, so that all
// of them share one layout:
//
//	--server URL
//	    server URL
//	    env TICKETQ_SERVER; default http://127.0.0.1:8080
//
// The argument name is given here, never taken from backquotes in a usage
// string as PrintDefaults does (which turned "the one `ticketq serve
// --data` uses" into the argument "ticketq serve --data").
type cmdFlags struct {
	*flag.FlagSet
	about  string // the text above the flags: "Usage: …" and what the command does
	footer string // the text below them, if any
	docs   []flagDoc
	given  map[string]bool // the flags on the command line, after parse
}

// flagDoc is what --help shows of a flag beyond its usage text.
type flagDoc struct {
	name string
	arg  string   // the argument's name, e.g. URL; "" for a switch
	env  []string // read, first set one first, when the flag is absent
}

// newCmdFlags returns the flag set of subcommand name (e.g. "ticketq
// stats"); about is the start of its --help, without the flags.
func newCmdFlags(name, about string, stderr io.Writer) *cmdFlags {
	f := &cmdFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), about: about}
	f.SetOutput(stderr)
	f.Usage = func() { f.printUsage(stderr) }
	return f
}

// doc names the argument of flag name ("" for a switch) and the
// environment variables that give its value when it is not on the command
// line; the first one set wins. Call it once per flag, in declaration
// order, which is the order --help lists them in.
func (f *cmdFlags) doc(name, arg string, env ...string) {
	if f.Lookup(name) == nil {
		panic("doc of undeclared flag --" + name)
	}
	f.docs = append(f.docs, flagDoc{name: name, arg: arg, env: env})
}

// parse parses args, flags and positional arguments in any order, then
// gives every flag that is not on the command line the value of its first
// environment variable that is set and not empty, so that a flag beats its
// variable and the variable beats the default. It returns the positional
// arguments; a bad flag or variable is a usage error (exit 2), and --help
// is flag.ErrHelp (exit 0).
func (f *cmdFlags) parse(args []string, env map[string]string) ([]string, error) {
	pos, err := parseInterspersed(f.FlagSet, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	f.given = map[string]bool{}
	f.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	for _, d := range f.docs {
		if f.given[d.name] {
			continue
		}
		for _, name := range d.env {
			v := env[name]
			if v == "" {
				continue
			}
			if err := f.Set(d.name, v); err != nil {
				return nil, usageError{fmt.Errorf("environment variable %s=%q: %v", name, v, err)}
			}
			break
		}
	}
	return pos, nil
}

// onCommandLine reports whether flag name was on the command line (a
// value from the environment does not count).
func (f *cmdFlags) onCommandLine(name string) bool { return f.given[name] }

// printUsage writes the --help of the command: about, every flag, footer.
func (f *cmdFlags) printUsage(w io.Writer) {
	fmt.Fprint(w, f.about)
	fmt.Fprint(w, "\nFlags:\n")
	documented := map[string]bool{}
	for _, d := range f.docs {
		documented[d.name] = true
		printFlag(w, f.Lookup(d.name), d)
	}
	// A flag declared without doc still shows, named by its type.
	var rest []*flag.Flag
	f.VisitAll(func(fl *flag.Flag) {
		if !documented[fl.Name] {
			rest = append(rest, fl)
		}
	})
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	for _, fl := range rest {
		printFlag(w, fl, flagDoc{name: fl.Name, arg: argOfType(fl)})
	}
	fmt.Fprint(w, f.footer)
}

// printFlag writes one flag: its name and argument, its usage, then its
// variables and default.
func printFlag(w io.Writer, fl *flag.Flag, d flagDoc) {
	dash := "--"
	if len(fl.Name) == 1 {
		dash = "-" // -o, as every tool spells a one-letter flag
	}
	head := "  " + dash + fl.Name
	if d.arg != "" {
		head += " " + d.arg
	}
	fmt.Fprintln(w, head)
	for _, line := range strings.Split(fl.Usage, "\n") {
		fmt.Fprintf(w, "      %s\n", line)
	}
	var tail []string
	if len(d.env) > 0 {
		tail = append(tail, "env "+strings.Join(d.env, " or "))
	}
	if def := fl.DefValue; def != "" && !(isSwitch(fl) && def == "false") {
		tail = append(tail, "default "+def)
	}
	if len(tail) > 0 {
		fmt.Fprintf(w, "      %s\n", strings.Join(tail, "; "))
	}
}

// isSwitch reports whether fl takes no argument (--json, not --json=true).
func isSwitch(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// argOfType names the argument of a flag declared without doc by its type.
func argOfType(fl *flag.Flag) string {
	if isSwitch(fl) {
		return ""
	}
	// The usage strings hold no backquotes (a test checks), so this is
	// the type's name: "duration", "int", "string", …
	typ, _ := flag.UnquoteUsage(fl)
	switch typ {
	case "int", "uint", "int64", "uint64":
		return "N"
	case "float":
		return "NUMBER"
	case "":
		return "VALUE"
	}
	return strings.ToUpper(typ)
}
