package node

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// valueLogGCInterval is how often the node looks for value-log files that
// are mostly garbage. Values over badgerOptions' threshold (entries, DAG
// nodes, content blocks) live in the value log; an amend, a retract or a
// rebuild leaves the old value there, and only badger's value-log GC, which
// rewrites a file's live values and drops the file, gives the space back.
const valueLogGCInterval = 10 * time.Minute

// valueLogGCDiscard is the share of a file that must be garbage for the GC
// to rewrite it (badger's recommendation).
const valueLogGCDiscard = 0.5

// collectValueLog runs badger's value-log GC every valueLogGCInterval until
// the node closes, then closes done.
func (n *Node) collectValueLog(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(valueLogGCInterval)
	defer t.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
		}
		// Each call rewrites at most one file; go on while there is work.
		for range 64 {
			err := n.db.RunValueLogGC(valueLogGCDiscard)
			if err != nil {
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					n.log.Warn("value log gc", "err", err)
				}
				break
			}
			select {
			case <-n.closed:
				return
			default:
			}
		}
	}
}
