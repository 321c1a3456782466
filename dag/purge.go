package dag

import (
	"bytes"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
)

// Purge deletes every record of index idx from db under prefix (the one
// Open is given): its manifest, author logs and their feeds, heads, apply
// records, node locations and the (log, seq) -> hash records older stores
// hold. It works on the store alone, before Open (an
// open DAG would keep the index in memory), and is idempotent: a purge cut
// short by a crash is finished by running it again, since the records
// that find the others (apply records, log records) go last.
func Purge(db *badger.DB, prefix []byte, idx IndexKey) error {
	k := keyBuf{prefix: bytes.Clone(prefix)}
	ib := idx.b[:]
	within := func(t byte) []byte { return append(k.tag(t), ib...) }

	// Node locations, found through the apply records.
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: within(tagApplied), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 72 {
				continue // damaged: nothing to find through it
			}
			if err := wb.Delete(k.nodeLoc(ID{[32]byte(v[40:72])})); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("dag: purging node locations of %v: %w", idx, err)
	}

	// The logs' feeds and log -> index records: the logs are those with a
	// log record in idx, and any other that names idx as its index.
	logs := map[feedtree.Key]bool{}
	err = db.View(func(txn *badger.Txn) error {
		p := within(tagLog)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		for it.Rewind(); it.Valid(); it.Next() {
			if log, err := feedtree.KeyFromBytes(it.Item().Key()[len(p):]); err == nil {
				logs[log] = true
			}
		}
		it.Close()
		p = k.tag(tagLogIndex)
		it = txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			log, err := feedtree.KeyFromBytes(it.Item().Key()[len(p):])
			if err != nil {
				continue
			}
			if err := it.Item().Value(func(v []byte) error {
				if bytes.Equal(v, ib) {
					logs[log] = true
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dag: purging %v: listing its logs: %w", idx, err)
	}
	var drop [][]byte
	for log := range logs {
		lb := log.Bytes()
		// tagSeqHash: older stores hold (log, seq) -> hash records there.
		drop = append(drop, append(k.tag(tagFeeds), lb[:]...), k.logIndex(log), append(k.tag(tagSeqHash), lb[:]...))
	}
	if len(drop) > 0 {
		if err := db.DropPrefix(drop...); err != nil {
			return fmt.Errorf("dag: purging the logs of %v: %w", idx, err)
		}
	}

	// The index's own records; the log records last.
	if err := db.DropPrefix(within(tagApplied), within(tagHead), within(tagCounter), within(tagManifest)); err != nil {
		return fmt.Errorf("dag: purging %v: %w", idx, err)
	}
	if err := db.DropPrefix(within(tagLog)); err != nil {
		return fmt.Errorf("dag: purging the log records of %v: %w", idx, err)
	}
	return nil
}
