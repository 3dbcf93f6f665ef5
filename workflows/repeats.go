package workflows

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketPendingRepeats maps an alert id to the outbox sequence of the
// last "more like this" notification (NotifyRepeat) queued for it.
var bucketPendingRepeats = []byte("workflows.pending-repeats")

// enqueueRepeat queues a NotifyRepeat for an alert that grew, in place of
// the one queued before for it if that one is still untouched: a repeat
// tells the alert's count as it is when delivered, so the two would say
// the same. A long poll commits every batch, and a 10M-event replay used
// to leave 17,000 repeats for 36 alerts in the outbox, which the
// dispatcher then read whole.
//
// The older item is deleted and a new one queued, never merely kept: a
// dispatch pass that already read the alert for the older one tells the
// count before this change, and the new item tells this one.
func enqueueRepeat(tx *bolt.Tx, now time.Time, alertID string) error {
	idx, err := tx.CreateBucketIfNotExists(bucketPendingRepeats)
	if err != nil {
		return err
	}
	outbox := tx.Bucket(bucketOutbox)
	if seq := idx.Get([]byte(alertID)); seq != nil {
		if v := outbox.Get(seq); v != nil {
			var it outboxItem
			if json.Unmarshal(v, &it) == nil && untouchedRepeat(&it, alertID) {
				if err := outbox.Delete(seq); err != nil {
					return err
				}
			}
		}
	}
	if err := enqueue(tx, now, alertID, NotifyRepeat); err != nil {
		return err
	}
	return idx.Put([]byte(alertID), u64(outbox.Sequence()))
}

// untouchedRepeat says whether an outbox item is a plain repeat about the
// alert that no dispatch pass has delivered, failed or retried yet.
func untouchedRepeat(it *outboxItem, alertID string) bool {
	return it.Kind == NotifyRepeat && it.AlertID == alertID && it.Text == "" && it.Attachment == nil &&
		len(it.Targets) == 0 && len(it.Delivered) == 0 && len(it.Failed) == 0 && it.Attempts == 0
}
