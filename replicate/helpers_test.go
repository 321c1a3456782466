package replicate

import (
	"testing"

	"indexd/dag"
)

func dumpState(t testing.TB, idx dag.IndexKey, ns ...*testNode) {
	for i, n := range ns {
		logs, err := n.d.Logs(idx)
		t.Logf("node %d: err %v stats %+v peers %d", i, err, n.h.Stats(), len(n.h.Peers()))
		for _, l := range logs {
			t.Logf("   log %v len %d applied %d head %d", l.Key.String()[:12], l.Length, l.Applied, l.Head.Length)
		}
	}
}
