package search

import (
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2"
)

// defaultDoc is a Doc as bleve's default mapping sees it: every exported
// field analysed with the standard analyzer, stored, with term vectors and
// copied into _all. It is the baseline `indexd bench` compares against.
type defaultDoc struct {
	Index, Title, Description, Name string
	Files                           []string
	Category                        uint32
	Tags                            []string
	Author                          string
	InfohashV1, InfohashV2          string
	Size                            uint64
	Published                       time.Time
}

// IndexDefaultMapping batch-indexes docs into a new bleve index in dir
// with bleve's default mapping (bleve.NewIndexMapping) and returns how
// long it took. It exists for `indexd bench`, to measure our mapping
// against the baseline in the same run; nothing else uses it.
func IndexDefaultMapping(dir string, docs []Doc, batchSize int) (time.Duration, error) {
	idx, err := bleve.New(dir, bleve.NewIndexMapping())
	if err != nil {
		return 0, fmt.Errorf("search: creating baseline index: %w", err)
	}
	defer idx.Close()
	start := time.Now()
	b := idx.NewBatch()
	for i := range docs {
		d := &docs[i]
		if err := b.Index(d.ID, defaultDoc{
			Index: d.Index, Title: d.Title, Description: d.Description, Name: d.Name, Files: d.Files,
			Category: d.Category, Tags: d.Tags, Author: d.Author, InfohashV1: d.InfohashV1,
			InfohashV2: d.InfohashV2, Size: d.Size, Published: d.Published,
		}); err != nil {
			return 0, err
		}
		if b.Size() >= batchSize {
			if err := idx.Batch(b); err != nil {
				return 0, err
			}
			b.Reset()
		}
	}
	if b.Size() > 0 {
		if err := idx.Batch(b); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
