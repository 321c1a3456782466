package index

import (
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
)

// Purge deletes every record of index idx from db under prefix (the one
// Open is given): its entries, their infohash records, revisions, clocks,
// grants, forks, stats, counts and change log. Like dag.Purge it works on
// the store alone, before Open, and is idempotent: the entry records, which
// find the infohash records, go last.
func Purge(db *badger.DB, prefix []byte, idx dag.IndexKey) error {
	k := keys{prefix: slices.Clone(prefix)}

	// The ids of idx's entries, from the keys alone.
	ids := map[[32]byte]bool{}
	err := db.View(func(txn *badger.Txn) error {
		p := k.idxTag(tagEntry, idx, 0)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if key := it.Item().Key(); len(key) == len(p)+32 {
				ids[[32]byte(key[len(p):])] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: purging %v: listing its entries: %w", idx, err)
	}

	// Infohash records name the entry last; other indexes' entries may
	// share the infohash, so only records of idx's ids go.
	if len(ids) > 0 {
		wb := db.NewWriteBatch()
		defer wb.Cancel()
		err = db.View(func(txn *badger.Txn) error {
			for _, t := range []byte{tagIHv1, tagIHv2, tagEntryIdx} {
				p := k.tag(t, 0)
				it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
				for it.Rewind(); it.Valid(); it.Next() {
					key := it.Item().Key()
					if len(key) < len(p)+32 {
						continue
					}
					id := key[len(p):]
					if t != tagEntryIdx {
						id = key[len(key)-32:]
					} else if len(id) != 32 {
						continue
					}
					if ids[[32]byte(id)] {
						if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
							it.Close()
							return err
						}
					}
				}
				it.Close()
			}
			return nil
		})
		if err == nil {
			err = wb.Flush()
		}
		if err != nil {
			return fmt.Errorf("index: purging the infohash records of %v: %w", idx, err)
		}
	}

	var drop [][]byte
	for _, t := range []byte{tagCursor, tagRev, tagClock, tagGrant, tagFork, tagStats, tagAuthor, tagChangeCtr, tagChange, tagChangeOf, tagRebuild, tagWas} {
		drop = append(drop, k.idxTag(t, idx, 0))
	}
	if err := db.DropPrefix(drop...); err != nil {
		return fmt.Errorf("index: purging %v: %w", idx, err)
	}
	if err := db.DropPrefix(k.idxTag(tagEntry, idx, 0)); err != nil {
		return fmt.Errorf("index: purging the entries of %v: %w", idx, err)
	}
	return nil
}
