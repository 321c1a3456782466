package replicate

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

// TestNetnsPartition runs scripts/netns-partition.sh (5 daemons in 5 network
// namespaces, split 2/3, publish on both sides, heal, compare digests) where
// it can run: as root with network namespaces. Elsewhere it is skipped.
func TestNetnsPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test; skipped with -short")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root for ip netns")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	cmd := exec.Command("../scripts/netns-partition.sh")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		t.Skipf("network namespaces unavailable: %s", out)
	}
	if err != nil {
		t.Fatalf("netns-partition.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
