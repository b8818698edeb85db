package wal

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ticketq/ticketq/wal/internal/boltfile"
)

// This file reads the data file's pages without bbolt (see boltfile), for
// the start-up check that Open makes and the "pages" stage of Check: a
// tree with a cycle sends bbolt's cursors round for ever, and a page both
// free and in use is overwritten by the next commit, so neither may be
// left to bbolt to find.

// walkFile walks the page tree of the file at path with v. It fails with
// ErrDamaged if neither header page is valid, with the I/O error if the
// file cannot be read; damage is in the summary.
func walkFile(path string, v boltfile.Visitor) (*boltfile.Summary, *boltfile.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	f, err := boltfile.New(fh, fi.Size())
	if errors.Is(err, boltfile.ErrNoHeader) {
		return nil, nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if err != nil {
		return nil, nil, err
	}
	s, err := f.Walk(v)
	return s, f, err
}

// checkPages is the walk that Open (see inspect) and the offline tools
// make before bbolt reads a tree: O(pages in use) reads, two bits per
// page. It returns an ErrDamaged error naming what it found if bbolt is
// not safe on the file; leaked pages alone are harmless and pass.
func checkPages(path string) error {
	_, err := walkPages(path)
	return err
}

// walkPages is checkPages, also returning how many pages it read (for
// Open's log).
func walkPages(path string) (reached int, err error) {
	s, _, err := walkFile(path, boltfile.Visitor{})
	if err != nil {
		return 0, err
	}
	if s.Damaged() {
		return s.Reached, fmt.Errorf("%w: bbolt's page tree is damaged: %s", ErrDamaged, summaryText(s))
	}
	return s.Reached, nil
}

// kindText says what n problems of kind k mean, for a report.
func kindText(k boltfile.Kind, n int) string {
	switch k {
	case boltfile.FreeInUse:
		return fmt.Sprintf("%d page(s) in use are also in the freelist, so a commit would overwrite them", n)
	case boltfile.MultipleRefs:
		return fmt.Sprintf("%d page(s) are reached a second time in the tree (a cycle, or a page with two parents)", n)
	case boltfile.BadPage:
		return fmt.Sprintf("%d page(s) are not what their parent says (another page's content, a wrong type, or elements past their end)", n)
	case boltfile.OutOfRange:
		return fmt.Sprintf("%d reference(s) to pages past the pages in use or the end of the file", n)
	case boltfile.KeyOrder:
		return fmt.Sprintf("%d page(s) hold keys out of order or outside their parent's range", n)
	case boltfile.BadFreelist:
		return fmt.Sprintf("the freelist is damaged (%d problem(s))", n)
	case boltfile.Unreachable:
		return fmt.Sprintf("%d page(s) are neither in the tree nor in the freelist: leaked space, harmless to the data in the tree; 'ticketq compact' gives it back", n)
	}
	return fmt.Sprintf("%d problem(s) of kind %s", n, k)
}

// pageList formats the first pages of a kind, and says if there are more.
func pageList(pages []uint64, n int) string {
	var b strings.Builder
	for i, p := range pages {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, p)
	}
	if n > len(pages) {
		fmt.Fprintf(&b, ", … (%d more)", n-len(pages))
	}
	return b.String()
}

// summaryText is a one-line account of the damage, for a refusal.
func summaryText(s *boltfile.Summary) string {
	var parts []string
	for k := range s.Counts {
		kind := boltfile.Kind(k)
		if n := s.Counts[k]; n > 0 && !kind.Harmless() {
			first := s.First[k]
			if len(first) > 5 {
				first = first[:5]
			}
			parts = append(parts, fmt.Sprintf("%s (pages %s)", kindText(kind, n), pageList(first, n)))
		}
	}
	return strings.Join(parts, "; ")
}

// addPageFindings adds the walk's findings to rep: a line per kind with its
// count and first pages, then the first details of that kind. A harmless
// kind (leaked pages) is a note, not a finding.
func addPageFindings(rep *Report, s *boltfile.Summary) {
	const detailsPerKind = 3
	for k, n := range s.Counts {
		if n == 0 {
			continue
		}
		kind := boltfile.Kind(k)
		if kind.Harmless() {
			rep.Notes = append(rep.Notes, fmt.Sprintf("pages: %s: %s", kindText(kind, n), pageList(s.First[k], n)))
			continue
		}
		if !rep.add("pages: %s: %s", kindText(kind, n), pageList(s.First[k], n)) {
			return
		}
		shown := 0
		for _, p := range s.Problems {
			if p.Kind == kind && shown < detailsPerKind {
				shown++
				if !rep.add("pages:   %s", p.Detail) {
					return
				}
			}
		}
	}
}

// ticketRanges formats sorted tickets as ranges ("1–5, 9"), the first
// max of them, saying how many more there are.
func ticketRanges(ts []uint64, max int) string {
	var b strings.Builder
	ranges := 0
	for i := 0; i < len(ts); {
		j := i
		for j+1 < len(ts) && ts[j+1] == ts[j]+1 {
			j++
		}
		if ranges == max {
			rest := 0
			for k := i; k < len(ts); {
				rest++
				for k+1 < len(ts) && ts[k+1] == ts[k]+1 {
					k++
				}
				k++
			}
			fmt.Fprintf(&b, ", … (%d more ranges)", rest)
			break
		}
		if ranges > 0 {
			b.WriteString(", ")
		}
		if j == i {
			fmt.Fprint(&b, ts[i])
		} else {
			fmt.Fprintf(&b, "%d–%d", ts[i], ts[j])
		}
		ranges++
		i = j + 1
	}
	return b.String()
}

// sortedUnique sorts ts and drops repeats.
func sortedUnique(ts []uint64) []uint64 {
	slices.Sort(ts)
	return slices.Compact(ts)
}
