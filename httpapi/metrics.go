package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"indexd/node"
)

// statusScrapeTimeout bounds the node status read behind one scrape.
const statusScrapeTimeout = 5 * time.Second

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	searchLatency *prometheus.HistogramVec
	handler       http.Handler
}

func newMetrics(reg *prometheus.Registry, n *node.Node) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "indexd_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "indexd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern; streams count until they end.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		searchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "indexd_search_duration_seconds",
			Help:    "Time to run a search on the node, by endpoint (api, ui, torznab, rss).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 3, 12),
		}, []string{"endpoint"}),
	}
	for _, e := range []string{"api", "ui", "torznab", "rss"} {
		m.searchLatency.WithLabelValues(e) // export every series from the start
	}
	reg.MustRegister(m.requests, m.duration, m.searchLatency, &nodeCollector{n: n})
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, MaxRequestsInFlight: 4})
	return m
}

func (m *metrics) serve(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// instrument counts requests and their duration under route.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	dur := m.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			dur.Observe(time.Since(start).Seconds())
			m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		}()
		h.ServeHTTP(rec, r)
	})
}

// nodeCollector reads entry, author and peer counts from the node at
// scrape time, so they are never stale and cost nothing between scrapes.
type nodeCollector struct{ n *node.Node }

var (
	descEntries   = prometheus.NewDesc("indexd_entries", "Live entries per index.", []string{"index", "name"}, nil)
	descRetracted = prometheus.NewDesc("indexd_entries_retracted", "Retracted entries per index.", []string{"index", "name"}, nil)
	descAuthors   = prometheus.NewDesc("indexd_authors", "Distinct author identities per index.", []string{"index", "name"}, nil)
	descLogs      = prometheus.NewDesc("indexd_author_logs", "Author logs per index.", []string{"index", "name"}, nil)
	descHeads     = prometheus.NewDesc("indexd_dag_heads", "Current DAG heads per index.", []string{"index", "name"}, nil)
	descPending   = prometheus.NewDesc("indexd_dag_pending", "DAG nodes waiting for missing ancestors, per index.", []string{"index", "name"}, nil)
	descForked    = prometheus.NewDesc("indexd_forked_logs", "Author logs with a proven equivocation, per index.", []string{"index", "name"}, nil)
	descPeers     = prometheus.NewDesc("indexd_peers", "Connected peers.", nil, nil)
	descUp        = prometheus.NewDesc("indexd_status_up", "1 when the node answered the status read behind this scrape.", nil, nil)
	descDisk      = prometheus.NewDesc("indexd_disk_bytes", "What the data directory takes on disk: part store (badger), search (bleve) or total.", []string{"part"}, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEntries, descRetracted, descAuthors, descLogs, descHeads, descPending, descForked, descPeers, descUp, descDisk} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statusScrapeTimeout)
	defer cancel()
	st, err := c.n.Status(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(st.Peers))
	for part, v := range map[string]uint64{"store": st.Disk.Store, "search": st.Disk.Search, "total": st.Disk.Total} {
		ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(v), part)
	}
	for _, is := range st.Indexes {
		for _, g := range []struct {
			d *prometheus.Desc
			v int
		}{{descEntries, is.Entries}, {descRetracted, is.Retracted}, {descAuthors, is.Authors}, {descLogs, is.Logs}, {descHeads, is.Heads}, {descPending, is.Pending}, {descForked, is.Forked}} {
			ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(g.v), is.Key, is.Name)
		}
	}
}
