// Package ha keeps Trailhound's state alive beyond its host: snapshots of
// the bbolt database to S3 and their restore (snapshot.go, restore.go),
// and a lease in DynamoDB or S3 that lets a standby replica take over
// when the active one stops renewing it (lease.go, guard.go).
//
// It sits at the level of workflows: it knows the database file as a
// whole, never its buckets, and cmd wires it.
package ha
