package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress prints a one-line counter on a terminal, redrawn at most ten
// times a second; elsewhere it stays quiet.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	n     int
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && !quiet {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

func (p *progress) update(n int) {
	p.n = n
	if !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(n) / el
	}
	fmt.Fprintf(p.w, "\r%d entries  %.0f/s  %s", n, rate, time.Since(p.start).Round(time.Second))
}

func (p *progress) done() {
	if p.on {
		p.last = time.Time{}
		p.update(p.n)
		fmt.Fprintln(p.w)
	}
}
