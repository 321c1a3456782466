package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"indexd/node"
)

// maxJSONBody bounds JSON request bodies other than publish and import.
const maxJSONBody = 1 << 20

// badRequest wraps node.ErrBadRequest so errStatus maps it to 400.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", node.ErrBadRequest, fmt.Sprintf(format, args...))
}

// parseSearch reads a search from URL parameters, as the JSON API, the web
// UI, RSS and subscribe take them:
//
//	q, index, cat, tag, author (repeatable; cat and tag also comma-separated),
//	sort (relevance|date|size, "-" prefix for ascending), offset, limit,
//	facets, highlight, include_muted (booleans).
//
// It never panics and rejects malformed values with node.ErrBadRequest.
func parseSearch(v url.Values) (node.SearchRequest, error) {
	var req node.SearchRequest
	req.Query = strings.TrimSpace(v.Get("q"))
	if len(req.Query) > maxQueryLen {
		return req, badRequest("q is longer than %d bytes", maxQueryLen)
	}
	if !utf8.ValidString(req.Query) {
		return req, badRequest("q is not valid UTF-8")
	}
	var err error
	if req.Index, err = listParam(v, "index"); err != nil {
		return req, err
	}
	if req.Categories, err = listParam(v, "cat"); err != nil {
		return req, err
	}
	if req.Tags, err = listParam(v, "tag"); err != nil {
		return req, err
	}
	if req.Authors, err = listParam(v, "author"); err != nil {
		return req, err
	}
	req.Sort = v.Get("sort")
	switch req.Sort {
	case "", "relevance", "date", "size", "-date", "-size":
	default:
		return req, badRequest("sort must be relevance, date, size, -date or -size")
	}
	if req.Offset, err = intParam(v, "offset", 0, 1<<20); err != nil {
		return req, err
	}
	if req.Limit, err = intParam(v, "limit", 0, node.MaxLimit); err != nil {
		return req, err
	}
	if req.Facets, err = boolParam(v, "facets"); err != nil {
		return req, err
	}
	if req.Highlight, err = boolParam(v, "highlight"); err != nil {
		return req, err
	}
	if req.IncludeMuted, err = boolParam(v, "include_muted"); err != nil {
		return req, err
	}
	if req.IncludeBlocked, err = boolParam(v, "include_blocked"); err != nil {
		return req, err
	}
	return req, nil
}

// listParam collects a repeatable parameter; values may also be
// comma-separated. Empty items are dropped.
func listParam(v url.Values, key string) ([]string, error) {
	var out []string
	for _, raw := range v[key] {
		for _, part := range strings.Split(raw, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if len(part) > maxQueryLen || !utf8.ValidString(part) {
				return nil, badRequest("%s value is too long or not UTF-8", key)
			}
			out = append(out, part)
			if len(out) > maxListParams {
				return nil, badRequest("too many %s values (at most %d)", key, maxListParams)
			}
		}
	}
	return out, nil
}

// intParam reads an optional integer in [lo, hi]; absent means 0.
func intParam(v url.Values, key string, lo, hi int) (int, error) {
	s := strings.TrimSpace(v.Get(key))
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("%s must be an integer, not %q", key, truncate(s, 32))
	}
	if n < lo || n > hi {
		return 0, badRequest("%s must be between %d and %d", key, lo, hi)
	}
	return n, nil
}

// boolParam reads an optional boolean: 1/0, true/false, yes/no, on/off.
func boolParam(v url.Values, key string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v.Get(key))) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, badRequest("%s must be true or false", key)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// decodeJSON reads a JSON body of at most limit bytes into v, rejecting
// unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("empty request body; JSON expected")
		}
		return badRequest("malformed JSON: %v", err)
	}
	if dec.More() {
		return badRequest("trailing data after the JSON value")
	}
	return nil
}
