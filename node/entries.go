package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
	"indexd/index"
	"indexd/replicate"
)

// Sentinels callers branch on.
var (
	ErrNotFound   = errors.New("node: not found")
	ErrBadRequest = errors.New("node: bad request")
	ErrForbidden  = errors.New("node: not allowed")
	// ErrExists is a publish of what this identity already published
	// there: the message names the entry.
	ErrExists = errors.New("node: already published")
	// ErrUpstream is a server this node asked on the user's behalf (an RSS
	// feed) failing; the message says how.
	ErrUpstream = errors.New("node: upstream failed")
)

func errBadField(name string) error { return fmt.Errorf("%w: bad %s", ErrBadRequest, name) }

// IndexInfo describes one index this node knows.
type IndexInfo struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	Policy   string `json:"policy"`
	Creator  string `json:"creator"`
	Default  bool   `json:"default,omitempty"`
	Mine     bool   `json:"mine,omitempty"`
	Followed bool   `json:"followed,omitempty"`
	Entries  int    `json:"entries"`
}

var defaultIndexKey = []byte("n/default")

// ensureDefaultIndex creates the default index on first open.
func (n *Node) ensureDefaultIndex() error {
	if _, err := n.defaultIndex(); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	info, err := n.CreateIndex(context.Background(), "default", "open")
	if err != nil {
		return err
	}
	k, _ := dag.ParseIndexKey(info.Key)
	b := k.Bytes()
	return n.db.Update(func(txn *badger.Txn) error { return txn.Set(defaultIndexKey, b[:]) })
}

func (n *Node) defaultIndex() (dag.IndexKey, error) {
	var k dag.IndexKey
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(defaultIndexKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(v) != 32 {
			return fmt.Errorf("node: corrupt default index record")
		}
		k = dag.IndexKeyFromBytes([32]byte(v))
		return nil
	})
	return k, err
}

// ResolveIndex parses an index key or link, or returns the default index
// for "". The exact name of one known index is accepted too.
func (n *Node) ResolveIndex(s string) (dag.IndexKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return n.defaultIndex()
	}
	if k, err := dag.ParseIndexKey(s); err == nil {
		return k, nil
	}
	if strings.HasPrefix(s, "indexd:") {
		// A link, as `index link` prints and `follow` takes: its key.
		k, _, err := replicate.ParseIndexLink(s)
		if err != nil {
			return dag.IndexKey{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		return k, nil
	}
	keys, err := n.dag.Indexes()
	if err != nil {
		return dag.IndexKey{}, err
	}
	var found []dag.IndexKey
	for _, k := range keys {
		if m, err := n.dag.Manifest(k); err == nil && m.Name == s {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return dag.IndexKey{}, fmt.Errorf("%w: no index %q", ErrNotFound, s)
	default:
		return dag.IndexKey{}, fmt.Errorf("%w: %d indexes are named %q; give the key", ErrBadRequest, len(found), s)
	}
}

// CreateIndex signs a new index manifest with this identity.
func (n *Node) CreateIndex(ctx context.Context, name, policy string) (IndexInfo, error) {
	if name = strings.TrimSpace(name); name == "" {
		return IndexInfo{}, errBadField("name")
	}
	pol, err := dag.ParsePolicy(policy)
	if err != nil {
		return IndexInfo{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	m, err := dag.NewManifest(name, pol, n.identity, nil)
	if err != nil {
		return IndexInfo{}, err
	}
	if err := n.dag.PutManifest(m); err != nil {
		return IndexInfo{}, err
	}
	if h := n.host(); h != nil {
		// Shared from creation, not from its first entry: a peer may
		// follow it (and fetch the manifest) before anything is published.
		n.serveIndex(context.WithoutCancel(ctx), h, m.Key())
	}
	return n.indexInfo(m.Key())
}

func (n *Node) indexInfo(k dag.IndexKey) (IndexInfo, error) {
	m, err := n.dag.Manifest(k)
	if err != nil {
		return IndexInfo{}, err
	}
	info := IndexInfo{
		Key:     k.String(),
		Name:    m.Name,
		Policy:  m.Policy.String(),
		Creator: m.Creator.String(),
		Mine:    m.Creator == n.Identity(),
	}
	if d, err := n.defaultIndex(); err == nil && d == k {
		info.Default = true
	}
	info.Followed = n.isFollowed(k)
	if st, err := n.idx.Stats(k); err == nil {
		info.Entries = st.Entries
	}
	return info, nil
}

// Indexes lists every index this node knows.
func (n *Node) Indexes(ctx context.Context) ([]IndexInfo, error) {
	keys, err := n.dag.Indexes()
	if err != nil {
		return nil, err
	}
	out := make([]IndexInfo, 0, len(keys))
	for _, k := range keys {
		if n.removing(k) {
			continue
		}
		info, err := n.indexInfo(k)
		if err != nil {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

// author returns this device's author for an index, creating the log key
// file on first use. Two devices never share a log: the key is random and
// stays in this data directory.
func (n *Node) author(idx dag.IndexKey) (dag.Author, error) {
	n.removeMu.Lock() // RemoveIndex refuses indexes with a log key: no race
	defer n.removeMu.Unlock()
	if n.removing(idx) {
		return dag.Author{}, fmt.Errorf("%w: index %s is being removed; follow it again to cancel that", ErrBadRequest, idx)
	}
	return n.logAuthor(idx)
}

// logAuthor returns this device's author for idx, creating its log key.
func (n *Node) logAuthor(idx dag.IndexKey) (dag.Author, error) {
	seed, _, err := createSecret(n.logKeyPath(idx))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return dag.Author{}, fmt.Errorf("log key: %w", err)
	}
	return dag.Author{Identity: n.identity, Log: feedtree.KeyPairFromSeed(seed)}, nil
}

// forkAuthor is author for dag.Options.ForkAuthor, which the DAG calls
// with its lock held: it does not take removeMu (RemoveIndex holds that
// while it reads the DAG). A log key it creates meanwhile for an index
// being removed goes with the index, and its only node is a fork proof.
// A follower that finds a fork thus publishes into that index (and can no
// longer remove it, like any index it published into): replicas that
// never meet both histories learn the fork only from such a node.
func (n *Node) forkAuthor(idx dag.IndexKey) (dag.Author, bool) {
	if n.removing(idx) {
		return dag.Author{}, false
	}
	a, err := n.logAuthor(idx)
	if err != nil {
		n.log.Warn("no log key to publish a fork proof", "index", idx.String(), "err", err)
		return dag.Author{}, false
	}
	return a, true
}

func idBytesIndex(k dag.IndexKey) []byte {
	b := k.Bytes()
	return b[:]
}

// appendOps appends ops to this device's log in idx and runs the pipeline,
// so the result is searchable when it returns.
func (n *Node) appendOps(ctx context.Context, idx dag.IndexKey, ops ...dag.Op) ([]dag.ID, error) {
	if err := n.mayWrite(idx, ops); err != nil {
		return nil, err
	}
	a, err := n.author(idx)
	if err != nil {
		return nil, err
	}
	n.writeMu.Lock()
	ids, err := n.dag.Append(ctx, idx, a, ops...)
	n.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	if _, err := n.refresh(ctx, idx); err != nil {
		return ids, err
	}
	n.announce(ctx, idx, a.Log.Public())
	return ids, nil
}

// ExistsError is ErrExists for a publish: ID is the entry published
// before.
type ExistsError struct{ ID string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%v: you published this torrent in this index already, as %s ('indexd amend' changes its fields)", ErrExists, e.ID)
}

// Is makes errors.Is(err, ErrExists) hold.
func (e *ExistsError) Is(target error) bool { return target == ErrExists }

// mayWrite refuses entry ops in an allowlist index this identity has not
// been granted (as things stand here now), before anything is appended:
// every peer would refuse the node, and it would stay in this log for good.
func (n *Node) mayWrite(idx dag.IndexKey, ops []dag.Op) error {
	entryOps := false
	for _, o := range ops {
		entryOps = entryOps || o.Kind == dag.OpPut || o.Kind == dag.OpAmend || o.Kind == dag.OpRetract
	}
	if !entryOps {
		return nil
	}
	m, err := n.dag.Manifest(idx)
	if err != nil {
		return nil // no manifest yet: the DAG's own checks answer
	}
	if ok, err := n.idx.MayWrite(idx, n.Identity()); ok || err != nil {
		return err
	}
	return fmt.Errorf("%w: index %q takes entries only from authors its creator granted, and this node's identity is not one: ask them to run 'indexd index grant %s %s'", ErrForbidden, m.Name, idx, n.Identity())
}

// PublishRequest is a new entry: a .torrent file or a magnet link, plus
// fields a user may set.
type PublishRequest struct {
	Index       string            `json:"index,omitempty"`
	Torrent     []byte            `json:"torrent,omitempty"`
	Magnet      string            `json:"magnet,omitempty"`
	Title       string            `json:"title,omitempty"`
	Description string            `json:"description,omitempty"`
	Category    string            `json:"category,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
}

// Publish parses the torrent or magnet and appends a put node.
func (n *Node) Publish(ctx context.Context, req PublishRequest) (*EntryView, error) {
	idx, err := n.ResolveIndex(req.Index)
	if err != nil {
		return nil, err
	}
	var put *dag.Put
	switch {
	case len(req.Torrent) > 0 && req.Magnet != "":
		return nil, fmt.Errorf("%w: give a .torrent or a magnet link, not both", ErrBadRequest)
	case len(req.Torrent) > 0:
		if put, err = index.FromTorrent(req.Torrent); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	case req.Magnet != "":
		if put, err = index.FromMagnet(req.Magnet); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	default:
		return nil, fmt.Errorf("%w: a .torrent file or a magnet link is required", ErrBadRequest)
	}
	if err := applyFields(put, req); err != nil {
		return nil, err
	}
	if put.Name == "" && put.Title == "" {
		// Nothing a search could find it by but its infohash, and nothing
		// to show in a list of results.
		return nil, fmt.Errorf("%w: the magnet link names nothing (no dn=): give the entry a title", ErrBadRequest)
	}
	if id, ok := n.ownEntryWith(idx, put); ok {
		// A second entry would only repeat the first, and count this
		// identity twice among the torrent's publishers.
		return nil, &ExistsError{ID: id}
	}
	if len(req.Torrent) > 0 {
		ref, err := n.shareTorrentFile(ctx, put, req.Torrent)
		if err != nil {
			n.log.Warn("keeping the .torrent as a feed failed", "err", err)
		} else {
			put.Torrent = ref
		}
	}
	ids, err := n.appendOps(ctx, idx, dag.Op{Kind: dag.OpPut, Put: put})
	if err != nil {
		return nil, err
	}
	return n.entry(ids[0])
}

func applyFields(put *dag.Put, req PublishRequest) error {
	if req.Title != "" {
		put.Title = strings.TrimSpace(req.Title)
	}
	if req.Description != "" {
		put.Description = req.Description
	}
	if req.Category != "" {
		c, err := index.ParseCategory(req.Category)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		put.Category = uint32(c)
	}
	if len(req.Tags) > 0 {
		put.Tags = cleanTags(req.Tags)
	}
	if len(req.Meta) > 0 {
		if put.Meta == nil {
			put.Meta = map[string]string{}
		}
		for k, v := range req.Meta {
			put.Meta[k] = v
		}
	}
	return nil
}

// cleanTags lower-cases, trims and de-duplicates tags, keeping their order.
func cleanTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		for _, part := range strings.Split(t, ",") {
			part = strings.ToLower(strings.TrimSpace(part))
			if part != "" && !seen[part] {
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	return out
}

// AmendRequest changes fields of an entry this identity published. Nil
// fields are left as they are.
type AmendRequest struct {
	ID          string            `json:"id"`
	Title       *string           `json:"title,omitempty"`
	Description *string           `json:"description,omitempty"`
	Category    *string           `json:"category,omitempty"`
	Tags        *[]string         `json:"tags,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
}

// Amend appends an amend node for an entry of this identity.
func (n *Node) Amend(ctx context.Context, req AmendRequest) (*EntryView, error) {
	e, err := n.ownEntry(req.ID)
	if err != nil {
		return nil, err
	}
	am := &dag.Amend{Title: req.Title, Description: req.Description, Meta: req.Meta}
	if req.Category != nil {
		c, err := index.ParseCategory(*req.Category)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		cu := uint32(c)
		am.Category = &cu
	}
	if req.Tags != nil {
		t := cleanTags(*req.Tags)
		am.Tags = &t
	}
	if am.Title == nil && am.Description == nil && am.Category == nil && am.Tags == nil && len(am.Meta) == 0 {
		return nil, fmt.Errorf("%w: nothing to amend", ErrBadRequest)
	}
	if _, err := n.appendOps(ctx, e.Index, dag.Op{Kind: dag.OpAmend, Target: e.ID, Amend: am}); err != nil {
		return nil, err
	}
	return n.entry(e.ID)
}

// Retract withdraws an entry of this identity.
func (n *Node) Retract(ctx context.Context, id string) (*EntryView, error) {
	e, err := n.ownEntry(id)
	if err != nil {
		return nil, err
	}
	if _, err := n.appendOps(ctx, e.Index, dag.Op{Kind: dag.OpRetract, Target: e.ID}); err != nil {
		return nil, err
	}
	return n.entry(e.ID)
}

func (n *Node) ownEntry(id string) (*index.Entry, error) {
	eid, err := dag.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("%w: entry id: %v", ErrBadRequest, err)
	}
	e, err := n.idx.Entry(eid)
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: entry %s", ErrNotFound, id)
	} else if err != nil {
		return nil, err
	}
	if e.Author != n.Identity() {
		return nil, fmt.Errorf("%w: entry %s was published by %s, not by you", ErrForbidden, id, e.Author)
	}
	if e.Retracted {
		return nil, fmt.Errorf("%w: entry %s is retracted", ErrBadRequest, id)
	}
	return e, nil
}

// Entry returns one entry by id.
func (n *Node) Entry(ctx context.Context, id string) (*EntryView, error) {
	eid, err := dag.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("%w: entry id: %v", ErrBadRequest, err)
	}
	return n.entry(eid)
}

func (n *Node) entry(id dag.ID) (*EntryView, error) { return n.entryView(id, true) }

// entryView is entry; countPublishers false sets Publishers to 1 without
// looking up the entries that share the infohash.
func (n *Node) entryView(id dag.ID, countPublishers bool) (*EntryView, error) {
	e, err := n.idx.Entry(id)
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: entry %s", ErrNotFound, id)
	} else if err != nil {
		return nil, err
	}
	v := viewOf(e)
	v.Blocked = n.isBlocked(e)
	n.swarmOf(e, v)
	v.Publishers = 1
	if countPublishers {
		v.Publishers = n.publishers(e)
	}
	return v, nil
}

// publishers counts the live entries that share an infohash with e.
func (n *Node) publishers(e *index.Entry) int {
	ih := e.InfohashV1
	if len(ih) == 0 {
		ih = e.InfohashV2
	}
	ids, err := n.idx.ByInfohash(ih)
	if err != nil || len(ids) == 0 || (len(ids) == 1 && ids[0] == e.ID) {
		return 1 // only e: no need to read it again
	}
	authors := map[dag.Identity]bool{}
	for _, id := range ids {
		if o, err := n.idx.Entry(id); err == nil && (o.Index == e.Index || !n.removing(o.Index)) {
			authors[o.Author] = true
		}
	}
	return len(authors)
}

// keep os imported for platforms where fs errors differ.
var _ = os.ErrExist

// SetMember grants author the right to publish in the allowlist index
// which names, or revokes it (grant false). Only the index's creator may;
// its own right needs no grant. The change replicates as a signed node,
// and each entry is judged by the grants in its own causal past, so a
// revoke hides nothing published while the grant held.
func (n *Node) SetMember(ctx context.Context, which, author string, grant bool) error {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return err
	}
	id, err := dag.ParseIdentity(author)
	if err != nil {
		return fmt.Errorf("%w: author: %v", ErrBadRequest, err)
	}
	m, err := n.dag.Manifest(idx)
	if err != nil {
		return fmt.Errorf("%w: index %s: %v", ErrNotFound, idx, err)
	}
	switch {
	case m.Policy != dag.PolicyAllowlist:
		return fmt.Errorf("%w: index %q is open: anyone may publish in it; grants are for allowlist indexes", ErrBadRequest, m.Name)
	case m.Creator != n.Identity():
		return fmt.Errorf("%w: only the creator of index %q (%s) grants and revokes", ErrForbidden, m.Name, m.Creator)
	case id == m.Creator:
		return fmt.Errorf("%w: the creator may always publish in its index", ErrBadRequest)
	}
	kind := dag.OpGrant
	if !grant {
		kind = dag.OpRevoke
	}
	_, err = n.appendOps(ctx, idx, dag.Op{Kind: kind, Member: id})
	return err
}

// Members lists who may publish in the index which names besides its
// creator, sorted: the granted identities of an allowlist index, none for
// an open one (Policy says which).
func (n *Node) Members(ctx context.Context, which string) (*MemberList, error) {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return nil, err
	}
	m, err := n.dag.Manifest(idx)
	if err != nil {
		return nil, fmt.Errorf("%w: index %s: %v", ErrNotFound, idx, err)
	}
	ids, err := n.idx.Members(idx)
	if err != nil {
		return nil, err
	}
	out := &MemberList{Index: idx.String(), Name: m.Name, Policy: m.Policy.String(), Creator: m.Creator.String(), Members: []string{}}
	for _, id := range ids {
		out.Members = append(out.Members, id.String())
	}
	slices.Sort(out.Members)
	return out, nil
}

// MemberList is who may publish in an index.
type MemberList struct {
	Index   string   `json:"index"`
	Name    string   `json:"name"`
	Policy  string   `json:"policy"` // open: anyone; allowlist: the creator and Members
	Creator string   `json:"creator"`
	Members []string `json:"members"`
}
