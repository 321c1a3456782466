package index

import (
	"fmt"
	"unicode/utf8"

	"indexd/dag"
)

// ValidatePut checks that p is a put the index materialises: at least one
// infohash, each of the right length and not all zeros, and text fields
// within the dag limits. dag checks the same limits on every node it decodes;
// the index adds only the zero-infohash rule. Sync ignores a put that fails
// here, the same way on every peer. Errors wrap ErrBadPut.
func ValidatePut(p *dag.Put) error {
	if p == nil {
		return fmt.Errorf("%w: no put", ErrBadPut)
	}
	if len(p.InfohashV1) == 0 && len(p.InfohashV2) == 0 {
		return fmt.Errorf("%w: no infohash", ErrBadPut)
	}
	if p.InfohashV1 != nil && (len(p.InfohashV1) != 20 || allZero(p.InfohashV1)) {
		return fmt.Errorf("%w: v1 infohash must be 20 bytes, not all zero", ErrBadPut)
	}
	if p.InfohashV2 != nil && (len(p.InfohashV2) != 32 || allZero(p.InfohashV2)) {
		return fmt.Errorf("%w: v2 infohash must be 32 bytes, not all zero", ErrBadPut)
	}
	if err := checkText("name", p.Name, dag.MaxStringLen); err != nil {
		return err
	}
	if err := checkText("title", p.Title, dag.MaxStringLen); err != nil {
		return err
	}
	if err := checkText("description", p.Description, dag.MaxDescriptionLen); err != nil {
		return err
	}
	if err := checkTags(p.Tags); err != nil {
		return err
	}
	if len(p.Files) > dag.MaxFiles {
		return fmt.Errorf("%w: %d files, limit %d", ErrBadPut, len(p.Files), dag.MaxFiles)
	}
	for _, f := range p.Files {
		if f.Path == "" {
			return fmt.Errorf("%w: a file has an empty path", ErrBadPut)
		}
		if err := checkText("file path", f.Path, dag.MaxStringLen); err != nil {
			return err
		}
	}
	for _, l := range [][]string{p.Trackers, p.WebSeeds} {
		if len(l) > dag.MaxURLs {
			return fmt.Errorf("%w: %d URLs, limit %d", ErrBadPut, len(l), dag.MaxURLs)
		}
		for _, u := range l {
			if u == "" {
				return fmt.Errorf("%w: empty URL", ErrBadPut)
			}
			if err := checkText("URL", u, dag.MaxStringLen); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrBadPut, what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrBadPut, what)
	}
	return nil
}

func checkTags(tags []string) error {
	if len(tags) > dag.MaxTags {
		return fmt.Errorf("%w: %d tags, limit %d", ErrBadPut, len(tags), dag.MaxTags)
	}
	for _, t := range tags {
		if t == "" {
			return fmt.Errorf("%w: empty tag", ErrBadPut)
		}
		if err := checkText("tag", t, dag.MaxTagLen); err != nil {
			return err
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
