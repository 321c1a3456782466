package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"indexd/node"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanSize formats bytes in binary units, as torrent clients do.
func humanSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func shortHash(v *node.EntryView) string {
	h := v.InfohashV1
	if h == "" {
		h = v.InfohashV2
	}
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func category(v *node.EntryView) string {
	if v.CategoryName != "" {
		return v.CategoryName
	}
	if v.Category == 0 {
		return "-"
	}
	return fmt.Sprint(v.Category)
}

// printable is text from an entry or a manifest made safe for a
// terminal: anyone can publish, so a title must not carry escape
// sequences that rewrite the screen, carriage returns or newlines that fake
// lines of output, or bidirectional overrides that reorder what is shown.
// Such runes show as U+FFFD; tabs and newlines as spaces.
func printable(s string) string {
	unsafe := func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }
	if strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n':
			return ' '
		case unsafe(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

// hitLine is the one-line text form of a search hit.
func hitLine(v *node.EntryView) string {
	title := printable(v.Title)
	if v.Retracted {
		title = "[retracted] " + title
	}
	if v.Blocked {
		title = "[blocked] " + title
	}
	extra := ""
	if v.Seeders != nil && v.Leechers != nil {
		extra = fmt.Sprintf("  S:%d L:%d", *v.Seeders, *v.Leechers)
	}
	if v.Publishers > 1 {
		extra += fmt.Sprintf("  (%d publishers)", v.Publishers)
	}
	size := humanSize(v.Size)
	if !v.SizeKnown() {
		size = "?" // a magnet link without xl= says nothing of the size
	}
	// The columns of fixed width first, the title (of any width) last, so
	// that a list of results lines up, as transmission-remote -l does.
	return fmt.Sprintf("%9s  %-14s  %s  %s  %s%s", size, category(v), v.Published.Local().Format("2006-01-02"), shortHash(v), title, extra)
}

// printEntry prints an entry in full.
func printEntry(w io.Writer, v *node.EntryView) {
	fmt.Fprintf(w, "%s\n", printable(v.Title))
	if v.Retracted {
		fmt.Fprintln(w, "  status:      RETRACTED by its publisher")
	}
	if v.Blocked {
		fmt.Fprintln(w, "  status:      blocked here (hidden from searches; 'indexd block --list' says by whom, 'indexd unblock ID' shows it again)")
	}
	fmt.Fprintf(w, "  id:          %s\n", v.ID)
	if v.Name != "" && v.Name != v.Title {
		fmt.Fprintf(w, "  name:        %s\n", printable(v.Name))
	}
	if v.InfohashV1 != "" {
		fmt.Fprintf(w, "  infohash v1: %s\n", v.InfohashV1)
	}
	if v.InfohashV2 != "" {
		fmt.Fprintf(w, "  infohash v2: %s\n", v.InfohashV2)
	}
	if v.SizeKnown() {
		fmt.Fprintf(w, "  size:        %s (%d bytes)\n", humanSize(v.Size), v.Size)
	} else {
		fmt.Fprintln(w, "  size:        unknown (its magnet link does not say)")
	}
	fmt.Fprintf(w, "  category:    %s\n", category(v))
	if len(v.Tags) > 0 {
		fmt.Fprintf(w, "  tags:        %s\n", printable(strings.Join(v.Tags, ", ")))
	}
	fmt.Fprintf(w, "  author:      %s\n", v.Author)
	fmt.Fprintf(w, "  published:   %s\n", v.Published.Local().Format(time.RFC1123))
	if !v.Updated.IsZero() && v.Updated.After(v.Published) {
		fmt.Fprintf(w, "  updated:     %s\n", v.Updated.Local().Format(time.RFC1123))
	}
	if v.Seeders != nil && v.Leechers != nil && v.SwarmChecked != nil {
		fmt.Fprintf(w, "  swarm:       %d seeders, %d leechers (trackers, %s)\n", *v.Seeders, *v.Leechers, v.SwarmChecked.Local().Format(time.DateTime))
	}
	if v.Publishers > 1 {
		fmt.Fprintf(w, "  publishers:  %d\n", v.Publishers)
	}
	if v.Description != "" {
		// A description keeps its lines, each indented under the first.
		for i, l := range strings.Split(strings.TrimRight(v.Description, "\n"), "\n") {
			if i == 0 {
				fmt.Fprintf(w, "  description: %s\n", printable(l))
			} else {
				fmt.Fprintf(w, "               %s\n", printable(l))
			}
		}
	}
	if len(v.Files) > 0 {
		fmt.Fprintf(w, "  files (%d):\n", len(v.Files))
		for i, f := range v.Files {
			if i == 20 {
				fmt.Fprintf(w, "    … %d more\n", len(v.Files)-20)
				break
			}
			fmt.Fprintf(w, "    %s  (%s)\n", printable(f.Path), humanSize(f.Size))
		}
	}
	if len(v.History) > 1 {
		fmt.Fprintln(w, "  history:")
		for _, h := range v.History {
			fmt.Fprintf(w, "    %s  %-7s %s\n", h.Time.Local().Format("2006-01-02 15:04:05"), h.Kind, h.Node[:12])
		}
	}
	fmt.Fprintf(w, "  magnet:      %s\n", v.Magnet)
}

// jsonLines encodes one compact JSON object per line.
func jsonLines(w io.Writer) *json.Encoder { return json.NewEncoder(w) }
