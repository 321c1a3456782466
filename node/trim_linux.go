package node

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// Dear future: badger maps its tables, value log and memtable logs, and
// bleve its segments, with shared file mappings, and writes, merges and
// compactions touch every page of them. The kernel counts each touched
// page in the process's resident set for as long as the file stays mapped,
// though it is page cache that memory pressure would reclaim; on a machine
// with free memory a million-entry import so looked like a process of
// 2.5 GiB more than it held. trimMapped asks the kernel to reclaim those
// pages now (madvise MADV_PAGEOUT, Linux 5.4+: dirty pages are written
// back first, nothing is lost). PAGEOUT rather than DONTNEED because this
// races with the libraries unmapping and the runtime mapping memory: a
// range read from /proc/self/maps may hold something else by the time it
// is advised, and PAGEOUT never discards data (without swap it leaves
// anonymous memory alone; pages shared with other processes are skipped),
// where DONTNEED would zero anonymous or private pages. A page touched
// again is read back from disk (or found in the page cache).

// madvPageout is MADV_PAGEOUT, which package syscall does not define.
const madvPageout = 21

// residentShared returns the process's resident shared pages in bytes
// (file-backed and shared memory: statm's third field), 0 if unknown.
func residentShared() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// trimMapped asks the kernel to reclaim the resident pages of the shared
// file mappings of files under dir and returns how many bytes of mappings
// it advised.
func trimMapped(dir string) int64 {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	prefix := []byte(dir + "/")
	var total int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// start-end perms offset dev inode path
		i := bytes.Index(line, prefix)
		if i < 0 {
			continue
		}
		fields := bytes.Fields(line[:i])
		if len(fields) != 5 || len(fields[1]) != 4 || fields[1][3] != 's' {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvPageout)
		if errno == 0 {
			total += int64(end - start)
		}
	}
	return total
}
