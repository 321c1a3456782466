package node

import "testing"

// BenchmarkFollowAuthorLists: what every search pays to read the follows'
// --author lists.
func BenchmarkFollowAuthorLists(b *testing.B) {
	n := openOfflineNode(b)
	for b.Loop() {
		n.followAuthorLists()
	}
}
