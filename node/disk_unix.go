//go:build unix

package node

import (
	"io/fs"
	"syscall"
)

// allocated is the space info's file takes: its allocated blocks.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}
