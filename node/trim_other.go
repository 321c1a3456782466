//go:build !linux

package node

// residentShared returns 0 off Linux: nothing is trimmed.
func residentShared() int64 { return 0 }

// trimMapped does nothing off Linux (see trim_linux.go).
func trimMapped(dir string) int64 { return 0 }
