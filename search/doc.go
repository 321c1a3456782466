// Package search keeps a bleve index of the current torrent entries, so a
// node can answer full-text queries locally, offline and privately.
//
// The index is derived state: it holds nothing that is not rebuildable
// from the materialised entries (package index), and the node layer
// feeds it with Apply, recording with each batch the cursor up to which it
// is current. The package owns no badger keys; its files live in their own
// directory beside the badger database. An index written by another
// mapping version is discarded on Open (its cursor reads 0), so the caller
// rebuilds it.
//
// Invariant: equal sets of documents give equal result lists. Scores
// depend only on the documents, and ranking ties break by entry ID
// (collect.go), whatever order or batching the documents came in.
//
// The documents are spread over shards (shards.go), bleve indexes that
// Apply feeds and Search asks at once, so that one query, or one batch,
// uses every core. Each shard scores with the counts of all shards, so a
// hit scores as it would in one index, whatever the number of shards.
//
// What is indexed (mapping.go): one merged full-text field of title,
// name, description and file paths, analysed by ReleaseTokenizer (release
// names and paths split on . _ - / and letter/digit boundaries, the whole
// kept too), with positions only for title and name; keyword fields for
// category, its parent, tags, author, index key and infohashes; size and
// publish time as one term each with doc values, and the publish day as a
// keyword (recent.go). Stored: title and name (for highlighting) and the
// infohashes (for collapsing), nothing else.
//
// Cost: about 0.75 KiB of disk per entry (720 MiB at 1M). A text query
// costs CPU time linear in the postings of its words, as bleve has no
// early termination (about 10 ms of CPU for 1-3 common words at 1M, 4.5-5
// ms of wall time on two cores with two shards); size and date ranges read
// the doc values of every candidate; listing the most recent entries walks
// publish days from the newest. See BENCHMARKS.md, sections "search" and
// "pipeline".
package search
