package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"indexd/node"
)

// Defaults for Options.
const (
	// DefaultMaxUpload bounds a publish request (a .torrent plus fields).
	DefaultMaxUpload = 10 << 20
	// DefaultMaxImport bounds an import body (JSON Lines of entries).
	DefaultMaxImport = 1 << 30
	// DefaultRequestTimeout bounds every request that is not a stream.
	DefaultRequestTimeout = 30 * time.Second
	// loginCodeTTL is how long a one-time login link stays valid.
	loginCodeTTL = 24 * time.Hour
	// maxLoginCodes bounds the one-time codes kept in memory.
	maxLoginCodes = 64
	// maxQueryLen bounds the free-text query of a search, in bytes.
	maxQueryLen = 1024
	// maxListParams bounds repeated filter parameters (cat, tag, author).
	maxListParams = 64
)

// Options configures New. The zero value is usable.
type Options struct {
	// Token is the write token. Default: the node's Token().
	Token string
	// APIKey is the read-only key for Torznab, RSS and GET requests.
	// Default: the node's APIKey().
	APIKey string
	// Logger receives one structured line per request and error details.
	// Default: discard.
	Logger *slog.Logger
	// MaxUpload bounds a publish request body in bytes; larger ones get
	// 413. Default: DefaultMaxUpload (10 MiB).
	MaxUpload int64
	// MaxImport bounds an import body in bytes. Default: DefaultMaxImport.
	MaxImport int64
	// RequestTimeout bounds every request except streams (subscribe,
	// import, export). Default: DefaultRequestTimeout.
	RequestTimeout time.Duration
	// AllowedHosts are the Host header values accepted, as "name" (any
	// port) or "name:port". Requests naming any other host get 421, which
	// defeats DNS rebinding. Default: 127.0.0.1, localhost and [::1] on any
	// port.
	AllowedHosts []string
	// Registry receives this package's metrics and is served at /metrics;
	// other packages (replication) register theirs on it too.
	// Default: a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Title names the node in the web UI and feeds. Default: "indexd".
	Title string
}

// Server serves the HTTP API, web UI, Torznab, RSS and metrics of one
// node. It implements http.Handler and is safe for concurrent use.
type Server struct {
	n       *node.Node
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	metrics *metrics
	ui      *ui

	loginMu    sync.Mutex
	loginCodes map[string]time.Time
}

// New returns a Server for n.
func New(n *node.Node, opts Options) *Server {
	if opts.Token == "" {
		opts.Token = n.Token()
	}
	if opts.APIKey == "" {
		opts.APIKey = n.APIKey()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = DefaultMaxUpload
	}
	if opts.MaxImport <= 0 {
		opts.MaxImport = DefaultMaxImport
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if len(opts.AllowedHosts) == 0 {
		opts.AllowedHosts = []string{"127.0.0.1", "localhost", "[::1]"}
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	if opts.Title == "" {
		opts.Title = "indexd"
	}
	s := &Server{
		n:          n,
		opts:       opts,
		log:        opts.Logger,
		mux:        http.NewServeMux(),
		loginCodes: map[string]time.Time{},
	}
	s.metrics = newMetrics(opts.Registry, n)
	s.ui = newUI(s)
	s.routes()
	s.handler = s.middleware(s.mux)
	return s
}

// Registry is the registry served at /metrics, for other packages'
// collectors.
func (s *Server) Registry() *prometheus.Registry { return s.opts.Registry }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// HTTPServer returns an http.Server for s with sane timeouts, for
// `indexd serve` to run on addr.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// route registers h under pattern, labelled for metrics by pattern.
// Non-streaming routes run under the request timeout.
func (s *Server) route(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, s.withTimeout(h)))
}

// stream registers a streaming route: no timeout, and it may flush.
func (s *Server) stream(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, h))
}

func (s *Server) routes() {
	// JSON API.
	s.route("GET /api/v1/search", s.apiSearch)
	s.route("POST /api/v1/search", s.apiSearch)
	s.route("GET /api/v1/entries/{id}", s.apiEntry)
	s.route("GET /api/v1/entries/{id}/torrent", s.apiTorrent)
	s.route("POST /api/v1/entries", s.write(s.apiPublish))
	s.route("PATCH /api/v1/entries/{id}", s.write(s.apiAmend))
	s.route("POST /api/v1/entries/{id}/amend", s.write(s.apiAmend))
	s.route("DELETE /api/v1/entries/{id}", s.write(s.apiRetract))
	s.route("POST /api/v1/entries/{id}/retract", s.write(s.apiRetract))
	s.route("GET /api/v1/indexes", s.apiIndexes)
	s.route("POST /api/v1/indexes", s.write(s.apiCreateIndex))
	s.route("GET /api/v1/indexes/{which}/link", s.apiIndexLink)
	s.route("DELETE /api/v1/indexes/{which}", s.write(s.apiRemoveIndex))
	s.route("GET /api/v1/indexes/{which}/members", s.apiMembers)
	s.route("POST /api/v1/indexes/{which}/members", s.write(s.apiSetMember))
	s.route("GET /api/v1/follows", s.apiFollows)
	s.route("POST /api/v1/follows", s.write(s.apiFollow))
	s.route("DELETE /api/v1/follows/{which}", s.write(s.apiUnfollow))
	s.route("GET /api/v1/peers", s.apiPeers)
	s.route("POST /api/v1/peers", s.write(s.apiAddPeer))
	s.route("GET /api/v1/status", s.apiStatus)
	s.route("GET /api/v1/mutes", s.apiMuted)
	s.route("POST /api/v1/mutes", s.write(s.apiMute))
	s.stream("POST /api/v1/rss/fetch", s.write(s.apiRSSFetch)) // fetches .torrents: no request timeout
	s.route("GET /api/v1/rss", s.write(s.apiRSSFeeds))         // feed URLs often hold passkeys: token only
	s.route("POST /api/v1/rss", s.write(s.apiRSSAdd))
	s.route("DELETE /api/v1/rss", s.write(s.apiRSSRemove))
	s.stream("POST /api/v1/scrape", s.write(s.apiScrape)) // asks trackers: no request timeout
	s.route("GET /api/v1/blocks", s.apiBlocked)
	s.route("POST /api/v1/blocks", s.write(s.apiBlock))
	s.route("GET /api/v1/blocklists", s.apiBlocklists)
	s.route("POST /api/v1/blocklists", s.write(s.apiSubscribeBlocklist))
	s.route("POST /api/v1/blocklists/publish", s.write(s.apiPublishBlocklist))
	s.route("DELETE /api/v1/blocklists", s.write(s.apiUnsubscribeBlocklist))
	s.route("POST /api/v1/reindex", s.write(s.apiReindex))
	s.stream("POST /api/v1/import", s.write(s.apiImport))
	s.stream("GET /api/v1/export", s.apiExport)
	s.stream("GET /api/v1/subscribe", s.apiSubscribe)
	s.contentRoutes() // content.go: share, get, stream, append
	s.route("/api/", s.apiNotFound)

	// Torznab and RSS.
	s.route("GET /torznab/api", s.torznab)
	s.route("GET /torznab/{index}/api", s.torznab)
	s.route("GET /rss", s.rss)

	// Operations.
	s.route("GET /healthz", s.healthz)
	s.route("GET /metrics", s.metrics.serve)

	// Web UI.
	s.route("GET /login", s.loginPage)
	s.route("POST /login", s.loginPost)
	s.route("POST /logout", s.write(s.logout))
	s.mux.Handle("GET /static/", s.metrics.instrument("GET /static/", s.ui.static()))
	s.route("GET /{$}", s.ui.search)
	s.route("GET /entries/{id}", s.ui.entry)
	s.route("POST /entries/{id}/block", s.write(s.ui.block))
	s.route("GET /publish", s.ui.publishForm)
	s.route("POST /publish", s.write(s.ui.publish))
	s.route("GET /network", s.ui.network)
	s.route("POST /network/follow", s.write(s.ui.follow))
	s.route("POST /network/members", s.write(s.ui.setMember))
	s.route("POST /network/unfollow", s.write(s.ui.unfollow))
	s.route("POST /network/remove", s.write(s.ui.removeIndex))
	s.route("POST /network/rss", s.write(s.ui.rssAdd))
	s.route("POST /network/rss/remove", s.write(s.ui.rssRemove))
	s.route("POST /network/unblock", s.write(s.ui.unblock))
	s.route("POST /network/peer", s.write(s.ui.addPeer))
	s.route("POST /network/index", s.write(s.ui.createIndex))
	s.route("/", s.ui.notFound)
}

// withTimeout bounds a request's context. Handlers pass it down to the
// node, so a slow search is cancelled rather than left running.
func (s *Server) withTimeout(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// middleware checks the Host header, recovers from handler panics (never
// sending a stack trace) and logs each request.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				if !rec.wrote {
					writeError(rec, r, http.StatusInternalServerError, "internal error")
				}
			}
			s.log.Info("http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"bytes", rec.bytes, "dur_ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
		}()
		if !s.hostAllowed(r.Host) {
			writeError(rec, r, http.StatusMisdirectedRequest, "host "+r.Host+" is not allowed (see AllowedHosts)")
			return
		}
		if !s.canRead(r) && !selfAuthenticating(r.URL.Path) {
			writeError(rec, r, http.StatusUnauthorized, "reads from other machines need the token, a browser session or ?apikey=")
			return
		}
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		rec.Header().Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(rec, r)
	})
}

// selfAuthenticating lists the paths that are open to everyone, or that
// check credentials themselves in their own format (Torznab answers with
// an XML error that Sonarr understands).
func selfAuthenticating(path string) bool {
	return path == "/healthz" || path == "/login" || path == "/rss" ||
		strings.HasPrefix(path, "/static/") || strings.HasPrefix(path, "/torznab/")
}

// hostAllowed reports whether the Host header names an allowed host.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return false
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
		if strings.Contains(h, ":") {
			name = "[" + h + "]"
		}
	}
	for _, a := range s.opts.AllowedHosts {
		if strings.EqualFold(a, host) || strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// isLoopback reports whether the request came from this machine.
func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// statusRecorder records the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush forwards to the underlying writer when it can flush.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// errStatus maps node errors to HTTP statuses.
func errStatus(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, node.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, node.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, node.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, node.ErrUpstream):
		return http.StatusBadGateway
	case errors.Is(err, node.ErrExists):
		return http.StatusConflict
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499 // client went away; nobody reads this
	default:
		return http.StatusInternalServerError
	}
}

// publicMessage is what a client may see of err: the node's own message
// for the errors it classifies, a generic line otherwise (the detail goes
// to the log).
func (s *Server) publicMessage(r *http.Request, err error, status int) string {
	switch status {
	case http.StatusNotFound, http.StatusBadRequest, http.StatusForbidden, http.StatusBadGateway, http.StatusConflict:
		return strings.TrimPrefix(err.Error(), "node: ")
	case http.StatusRequestEntityTooLarge:
		return "request body too large"
	case http.StatusServiceUnavailable:
		return "request timed out"
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away mid-request: nothing failed on our side.
		s.log.Debug("request canceled by the client", "method", r.Method, "path", r.URL.Path)
		return "request canceled"
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return "internal error"
}
