//go:build linux

package workflows

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped drops this process's resident pages of the database's
// memory map, so that pages a long run of commits has read stop counting
// in its resident set.
//
// bbolt maps the file read-only and MAP_SHARED (bolt_unix.go) and writes
// through the file, not the map. For a shared file mapping, madvise(2)
// says that after MADV_DONTNEED "subsequent accesses of pages in the range
// will succeed, but will result in ... repopulating the memory contents
// from the up-to-date contents of the underlying mapped file". So the call
// only removes this process's page-table entries: the pages stay in the
// page cache, the next read faults them back in from there, and no data
// changes, for this transaction or any other reader.
//
// It runs inside a read transaction, which holds bbolt's mmap lock for
// reading, so the map cannot be unmapped or moved while it runs. The range
// is the database's high-water mark (tx.Size), which bbolt always keeps
// mapped. A database opened with Mlock is left alone: locked pages cannot
// be dropped.
func releaseMapped(db *bolt.DB) error {
	if db.Mlock {
		return nil
	}
	return db.View(func(tx *bolt.Tx) error {
		size := tx.Size()
		if size <= 0 {
			return nil
		}
		// The raw system call takes the map's address as bbolt reports
		// it, without making a Go pointer of it.
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(size), unix.MADV_DONTNEED)
		if errno != 0 {
			return fmt.Errorf("release mapped pages: %w", errno)
		}
		return nil
	})
}
