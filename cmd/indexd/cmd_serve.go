package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"indexd/httpapi"
	"indexd/node"
)

func init() {
	register(&command{name: "serve", summary: "run the node: replication over libp2p and the HTTP API/web UI on 127.0.0.1", run: cmdServe})
}

// defaultHTTP is the HTTP address when --http is not given. Port 0 would
// change on every start; a fixed port lets bookmarks and Sonarr configs
// survive restarts. If it is taken, serve falls back to a free port.
const defaultHTTP = "127.0.0.1:7870"

func cmdServe(c *cli, args []string) error {
	fs := c.flags()
	var listen, bootstrap stringList
	fs.Var(&listen, "listen", "libp2p listen multiaddr (repeatable; default TCP and QUIC on free ports)")
	fs.Var(&bootstrap, "bootstrap", "peer multiaddr with /p2p/ID to dial at start (repeatable)")
	httpAddr := fs.String("http", "", "HTTP listen address (default "+defaultHTTP+", or a free port if taken); non-loopback addresses expose the API")
	noMDNS := fs.Bool("no-mdns", false, "do not discover peers on the LAN with mDNS")
	scrapeOn := fs.Bool("scrape", false, "ask trackers for seeders and leechers of the entries searches show (tells them which torrents you look at)")
	scrapePrivate := fs.Bool("scrape-private", false, "with --scrape: also ask trackers on loopback or LAN addresses")
	noDHT := fs.Bool("no-dht", false, "do not use the Kademlia DHT (which reveals your addresses and the discovery keys you follow)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the daemon to this file until it stops")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuprof)
	if err != nil {
		return err
	}
	defer stopProfile()
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageError("bad --log-level %q", *level)
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: lvl}))
	dir := fs.dir()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if _, err := node.Init(c.ctx, dir); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "initialised %s\n", dir)
	}
	n, err := openRetry(c.ctx, node.Options{Dir: dir, Logger: logger})
	if errors.Is(err, node.ErrNotInitialised) {
		if _, err = node.Init(c.ctx, dir); err == nil {
			n, err = node.Open(c.ctx, node.Options{Dir: dir, Logger: logger})
		}
	}
	if err != nil {
		return err
	}
	defer n.Close()

	ln, err := listenHTTP(*httpAddr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	var hosts []string
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil && !net.ParseIP(host).IsLoopback() {
		hosts = []string{"127.0.0.1", "localhost", "[::1]", host}
		fmt.Fprintf(c.stderr, "warning: HTTP listens on %s, beyond this machine; reads are open to anyone who can reach it\n", host)
	}
	api := httpapi.New(n, httpapi.Options{Token: n.Token(), APIKey: n.APIKey(), Logger: logger, AllowedHosts: hosts})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	if err := n.StartNet(ctx, node.NetOptions{Listen: listen, Bootstrap: bootstrap, MDNS: !*noMDNS, DHT: !*noDHT, Scrape: *scrapeOn, ScrapePrivate: *scrapePrivate}); err != nil {
		ln.Close()
		return fmt.Errorf("starting libp2p: %w", err)
	}
	if err := node.WriteDaemonInfo(dir, node.DaemonInfo{HTTP: base, PID: os.Getpid()}); err != nil {
		ln.Close()
		return err
	}
	defer node.RemoveDaemonInfo(dir)

	peerID, addrs := n.Listening()
	w := c.stdout
	fmt.Fprintf(w, "indexd %s serving %s\n", version, dir)
	fmt.Fprintf(w, "identity: %s\n", n.Identity())
	fmt.Fprintf(w, "peer id:  %s\n", peerID)
	for _, a := range addrs {
		fmt.Fprintf(w, "listen:   %s\n", a)
	}
	fmt.Fprintf(w, "http:     %s\n", base)
	fmt.Fprintf(w, "web UI:   %s  (open this one-time link to sign in)\n", api.LoginURL(base))
	fmt.Fprintf(w, "torznab:  %s/torznab/api?apikey=%s\n", base, n.APIKey())
	if !*noDHT {
		fmt.Fprintln(w, "note:     the DHT shows your addresses and the discovery keys of the indexes you follow to other DHT nodes (--no-dht to opt out)")
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	fmt.Fprintln(c.stderr, "indexd: shutting down")
	return err
}

// listenHTTP listens on addr, or on defaultHTTP, falling back to a free
// loopback port when the default is taken.
func listenHTTP(addr string) (net.Listener, error) {
	if addr != "" {
		if !strings.Contains(addr, ":") {
			addr = "127.0.0.1:" + addr
		}
		return net.Listen("tcp", addr)
	}
	ln, err := net.Listen("tcp", defaultHTTP)
	if err == nil {
		return ln, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// openRetry opens the node, waiting a little while a one-shot CLI command
// started just before the daemon still holds the directory's lock.
func openRetry(ctx context.Context, opts node.Options) (*node.Node, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := node.Open(ctx, opts)
		if err == nil || !strings.Contains(err.Error(), "directory lock") || time.Now().After(deadline) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
