package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"indexd/httpapi"
	"indexd/node"
)

// backend is what the CLI needs from a node. *node.Node implements it when
// no daemon runs (the CLI opens the data directory itself); *httpapi.Client
// implements it when a daemon owns the directory.
type backend interface {
	CreateIndex(ctx context.Context, name, policy string) (node.IndexInfo, error)
	Indexes(ctx context.Context) ([]node.IndexInfo, error)
	IndexLink(ctx context.Context, which string) (string, error)
	Members(ctx context.Context, which string) (*node.MemberList, error)
	SetMember(ctx context.Context, which, author string, grant bool) error
	Publish(ctx context.Context, req node.PublishRequest) (*node.EntryView, error)
	Amend(ctx context.Context, req node.AmendRequest) (*node.EntryView, error)
	Retract(ctx context.Context, id string) (*node.EntryView, error)
	Entry(ctx context.Context, id string) (*node.EntryView, error)
	Search(ctx context.Context, req node.SearchRequest) (*node.SearchResponse, error)
	Status(ctx context.Context) (*node.Status, error)
	Follow(ctx context.Context, req node.FollowRequest) (*node.Follow, error)
	Unfollow(ctx context.Context, which string) error
	RemoveIndex(ctx context.Context, which string) (*node.RemoveResult, error)
	Follows(ctx context.Context) ([]node.Follow, error)
	Mute(ctx context.Context, identity string, mute bool) error
	Muted(ctx context.Context) ([]string, error)
	Block(ctx context.Context, items []string, reason string, block bool) (*node.BlockResult, error)
	Blocked(ctx context.Context) ([]node.Block, error)
	Blocklists(ctx context.Context) ([]node.Blocklist, error)
	SubscribeBlocklist(ctx context.Context, req node.BlocklistRequest) (*node.Blocklist, error)
	PublishBlocklist(ctx context.Context) (*node.Blocklist, error)
	UnsubscribeBlocklist(ctx context.Context, list string) error
	RSSFetch(ctx context.Context, req node.RSSRequest) (*node.RSSResult, error)
	RSSAdd(ctx context.Context, req node.RSSRequest) (*node.RSSFeed, error)
	RSSFeeds(ctx context.Context) ([]node.RSSFeed, error)
	RSSRemove(ctx context.Context, u string) error
	Scrape(ctx context.Context, req node.ScrapeRequest) ([]node.Swarm, error)
	Peers(ctx context.Context) ([]node.PeerView, error)
	AddPeer(ctx context.Context, addr string) error
	Import(ctx context.Context, r io.Reader, which string, progress func(int)) (int, error)
	Export(ctx context.Context, w io.Writer, which string) (int, error)
	Subscribe(ctx context.Context, w node.Watch) (<-chan *node.EntryView, error)
	Reindex(ctx context.Context) error
}

var (
	_ backend = (*node.Node)(nil)
	_ backend = (*httpapi.Client)(nil)
)

// open returns a backend for dir: the running daemon if there is one,
// else the directory opened directly. The caller must call the returned
// close function.
func (c *cli) open(dir string) (backend, func(), error) {
	if info, err := node.ReadDaemonInfo(dir); err == nil && info.HTTP != "" && daemonAlive(info.HTTP) {
		tok, err := os.ReadFile(filepath.Join(dir, "token"))
		if err != nil {
			return nil, nil, err
		}
		return httpapi.NewClient(info.HTTP, strings.TrimSpace(string(tok))), func() {}, nil
	}
	n, err := node.Open(c.ctx, node.Options{Dir: dir})
	if err != nil {
		return nil, nil, err
	}
	return n, func() { n.Close() }, nil
}

// daemonAlive checks that the daemon named in daemon.json answers.
func daemonAlive(base string) bool {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(strings.TrimRight(base, "/") + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
