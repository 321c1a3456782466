package dag_test

import (
	"context"
	"fmt"
	"os"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
)

// Example creates an index, appends a put and an amend with one author,
// and reads back what was applied.
func Example() {
	dir, _ := os.MkdirTemp("", "dag-example")
	defer os.RemoveAll(dir)
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	d, err := dag.Open(db, []byte("dag/"), dag.Options{})
	if err != nil {
		panic(err)
	}
	defer d.Close()

	me := dag.IdentityFromSeed([32]byte{1})
	m, _ := dag.NewManifest("films", dag.PolicyOpen, me, nil)
	if err := d.PutManifest(m); err != nil {
		panic(err)
	}
	author := dag.Author{Identity: me, Log: feedtree.KeyPairFromSeed([32]byte{2})}

	ih := make([]byte, 20)
	ids, err := d.Append(context.Background(), m.Key(), author, dag.Op{Kind: dag.OpPut, Put: &dag.Put{
		InfohashV1: ih, Name: "Big.Buck.Bunny.2008.1080p", Size: 725106140, Category: 2040,
	}})
	if err != nil {
		panic(err)
	}
	title := "Big Buck Bunny (2008)"
	_, err = d.Append(context.Background(), m.Key(), author,
		dag.Op{Kind: dag.OpAmend, Target: ids[0], Amend: &dag.Amend{Title: &title}})
	if err != nil {
		panic(err)
	}

	applied, _ := d.Applied(m.Key(), 0, 0)
	for _, a := range applied {
		fmt.Println(a.Seq, a.Node.Op.Kind, "links:", len(a.Node.Links))
	}
	heads, _ := d.Heads(m.Key())
	fmt.Println("heads:", len(heads), heads[0].Seq)
	// Output:
	// 1 put links: 0
	// 2 amend links: 1
	// heads: 1 2
}
