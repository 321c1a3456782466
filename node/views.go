package node

import (
	"encoding/hex"
	"time"

	"indexd/dag"
	"indexd/index"
)

// EntryView is an entry as the CLI, the JSON API and the web UI show it.
// Its JSON form is also the line format of `indexd export` and `import`.
type EntryView struct {
	ID           string            `json:"id"`
	Index        string            `json:"index"`
	InfohashV1   string            `json:"infohash_v1,omitempty"`
	InfohashV2   string            `json:"infohash_v2,omitempty"`
	Name         string            `json:"name"`
	Title        string            `json:"title"`
	Description  string            `json:"description,omitempty"`
	Size         uint64            `json:"size"`
	Category     uint32            `json:"category"`
	CategoryName string            `json:"category_name,omitempty"`
	Tags         []string          `json:"tags"`
	Files        []FileView        `json:"files"`
	Trackers     []string          `json:"trackers,omitempty"`
	WebSeeds     []string          `json:"web_seeds,omitempty"`
	Private      bool              `json:"private,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	Author       string            `json:"author"`
	Published    time.Time         `json:"published"`
	Updated      time.Time         `json:"updated"`
	Retracted    bool              `json:"retracted,omitempty"`
	Blocked      bool              `json:"blocked,omitempty"` // carries an infohash this node blocks
	Magnet       string            `json:"magnet"`
	ContentFeed  string            `json:"content_feed,omitempty"`
	ContentLen   uint64            `json:"content_length,omitempty"`
	TorrentFeed  string            `json:"torrent_feed,omitempty"`
	Publishers   int               `json:"publishers,omitempty"`
	// Seeders and Leechers are what the entry's trackers said at
	// SwarmChecked (indexd scrape); absent when never asked.
	Seeders      *int                `json:"seeders,omitempty"`
	Leechers     *int                `json:"leechers,omitempty"`
	SwarmChecked *time.Time          `json:"swarm_checked,omitempty"`
	History      []RevisionView      `json:"history,omitempty"`
	Score        float64             `json:"score,omitempty"`
	Fragments    map[string][]string `json:"fragments,omitempty"`
}

// SizeKnown reports whether the entry says how large its torrent is: a
// magnet link without xl= does not (its Size then reads 0), a torrent of
// empty files does.
func (v *EntryView) SizeKnown() bool { return v.Size > 0 || len(v.Files) > 0 }

// FileView is one file of an entry.
type FileView struct {
	Path string `json:"path"`
	Size uint64 `json:"size"`
}

// RevisionView is one operation in an entry's history.
type RevisionView struct {
	Node   string    `json:"node"`
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
}

func viewOf(e *index.Entry) *EntryView {
	v := &EntryView{
		ID:          e.ID.String(),
		Index:       e.Index.String(),
		Name:        e.Name,
		Title:       e.Title,
		Description: e.Description,
		Size:        e.Size,
		Category:    e.Category,
		Tags:        nonNil(e.Tags),
		Trackers:    e.Trackers,
		WebSeeds:    e.WebSeeds,
		Private:     e.Private,
		Meta:        e.Meta,
		Author:      e.Author.String(),
		Published:   time.UnixMilli(e.Published).UTC(),
		Updated:     time.UnixMilli(e.Updated).UTC(),
		Retracted:   e.Retracted,
		Magnet:      index.MagnetURI(&e.Put),
		Files:       make([]FileView, 0, len(e.Files)),
	}
	if v.Title == "" {
		v.Title = e.Name
	}
	if e.Category != 0 {
		v.CategoryName = index.Category(e.Category).String()
	}
	if len(e.InfohashV1) > 0 {
		v.InfohashV1 = hex.EncodeToString(e.InfohashV1)
	}
	if len(e.InfohashV2) > 0 {
		v.InfohashV2 = hex.EncodeToString(e.InfohashV2)
	}
	for _, f := range e.Files {
		v.Files = append(v.Files, FileView{Path: f.Path, Size: f.Size})
	}
	if e.Content != nil {
		v.ContentFeed = e.Content.Key.String()
		v.ContentLen = e.Content.Length
	}
	if e.Torrent != nil {
		v.TorrentFeed = e.Torrent.Key.String()
	}
	for _, r := range e.History {
		v.History = append(v.History, RevisionView{
			Node:   r.Hash.String(),
			Kind:   r.Kind.String(),
			Time:   time.UnixMilli(r.Time).UTC(),
			Author: r.Author.String(),
		})
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// putOf turns an exported view back into a put, for `indexd import`.
func putOf(v *EntryView) (*dag.Put, error) {
	p := &dag.Put{
		Name:        v.Name,
		Title:       v.Title,
		Description: v.Description,
		Category:    v.Category,
		Tags:        v.Tags,
		Size:        v.Size,
		Trackers:    v.Trackers,
		WebSeeds:    v.WebSeeds,
		Private:     v.Private,
		Meta:        v.Meta,
	}
	var err error
	if v.InfohashV1 != "" {
		if p.InfohashV1, err = hex.DecodeString(v.InfohashV1); err != nil || len(p.InfohashV1) != 20 {
			return nil, errBadField("infohash_v1")
		}
	}
	if v.InfohashV2 != "" {
		if p.InfohashV2, err = hex.DecodeString(v.InfohashV2); err != nil || len(p.InfohashV2) != 32 {
			return nil, errBadField("infohash_v2")
		}
	}
	if p.InfohashV1 == nil && p.InfohashV2 == nil {
		if v.Magnet == "" {
			return nil, errBadField("infohash_v1/infohash_v2/magnet (one is required)")
		}
		mp, err := index.FromMagnet(v.Magnet)
		if err != nil {
			return nil, err
		}
		p.InfohashV1, p.InfohashV2 = mp.InfohashV1, mp.InfohashV2
	}
	for _, f := range v.Files {
		p.Files = append(p.Files, dag.File{Path: f.Path, Size: f.Size})
	}
	return p, nil
}
