//go:build !linux

package wal

import (
	"errors"
	"os"
)

// errNoBootID is why a system other than Linux always walks the file: it
// offers no boot id to tell a restart by.
var errNoBootID = errors.New("this system has no boot id to tell a restart by")

func currentBoot() (string, error)            { return "", errNoBootID }
func identify(path string) (fileID, error)    { return fileID{}, errNoBootID }
func identifyFile(f *os.File) (fileID, error) { return fileID{}, errNoBootID }
