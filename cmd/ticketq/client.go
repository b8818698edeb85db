package main

import "flag"

// defaultServer is where a serve with default flags listens.
const defaultServer = "http://" + defaultAddr

// serverFlag registers --server, read from TICKETQ_SERVER when absent.
func serverFlag(fs *cmdFlags) *string {
	p := fs.String("server", defaultServer, "URL of the running server")
	fs.doc("server", "URL", "TICKETQ_SERVER")
	return p
}

// parseInterspersed lets flags follow positional arguments
// (`ticketq status 17 --wait 5s`), which package flag alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
