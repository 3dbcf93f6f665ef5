//go:build !linux

package workflows

import bolt "go.etcd.io/bbolt"

// releaseMapped does nothing outside Linux: there the database's mapped
// pages are left to the kernel.
func releaseMapped(db *bolt.DB) error { return nil }
