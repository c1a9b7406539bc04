package daemon

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tillworks/posd/events"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// metrics are posd's Prometheus metrics (GET /metrics, behind the API
// token): gateway call latency and journal commit latency as histograms,
// and at each scrape the day's payments by gateway and state, the open
// ones in doubt and needing attention, the devices, the print queue.
type metrics struct {
	reg     *prometheus.Registry
	calls   *prometheus.HistogramVec
	commits prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "posd_gateway_call_seconds", Help: "Gateway calls by gateway, call (pay, query, cancel, refund, …) and result (answered, error).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"gateway", "call", "result"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "posd_journal_commit_seconds", Help: "Journal write transactions, fsync included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	m.reg.MustRegister(m.calls, m.commits)
	return m
}

// observeCall is payflow.Options.ObserveCall.
func (m *metrics) observeCall(gateway, call string, d time.Duration, err error) {
	result := "answered"
	if err != nil {
		result = "error"
	}
	m.calls.WithLabelValues(gateway, call, result).Observe(d.Seconds())
}

// watch adds the scrape-time gauges over the running parts.
func (m *metrics) watch(eng *payflow.Engine, st *store.Store, devices func() []events.DeviceStatus, queue *printer.Queue, version string) {
	st.ObserveCommits(func(d time.Duration) { m.commits.Observe(d.Seconds()) })
	m.reg.MustRegister(&stateCollector{eng: eng, devices: devices, queue: queue, version: version})
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descPayments  = prometheus.NewDesc("posd_payments", "Today's payments by gateway and state.", []string{"gateway", "state"}, nil)
	descInDoubt   = prometheus.NewDesc("posd_payments_in_doubt", "Open payments whose outcome posd is still settling (paying, in doubt, cancelling).", nil, nil)
	descAttention = prometheus.NewDesc("posd_payments_needs_attention", "Payments and refunds a person must settle in the gateway's console.", nil, nil)
	descDeviceUp  = prometheus.NewDesc("posd_device_up", "1 when a scanner is connected or the printer ready.", []string{"name", "kind", "state"}, nil)
	descQueue     = prometheus.NewDesc("posd_print_queue_depth", "Receipts waiting to print.", nil, nil)
	descJournalOK = prometheus.NewDesc("posd_journal_ok", "1 when the journal can be read and its last write succeeded.", nil, nil)
	descBuild     = prometheus.NewDesc("posd_build_info", "posd's version.", []string{"version"}, nil)
)

type stateCollector struct {
	eng     *payflow.Engine
	devices func() []events.DeviceStatus
	queue   *printer.Queue
	version string
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPayments, descInDoubt, descAttention, descDeviceUp, descQueue, descJournalOK, descBuild} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, c.version)
	journalOK := 1.0
	if day, err := c.eng.Day(time.Now().Format(time.DateOnly)); err == nil {
		type key struct{ gateway, state string }
		n := map[key]int{}
		for _, p := range day {
			n[key{p.Gateway, string(p.State)}]++
		}
		for k, v := range n {
			ch <- prometheus.MustNewConstMetric(descPayments, prometheus.GaugeValue, float64(v), k.gateway, k.state)
		}
	} else {
		journalOK = 0
	}
	if open, err := c.eng.Open(); err == nil {
		var doubt, attention int
		for _, p := range open {
			switch p.State {
			case payflow.StatePaying, payflow.StateInDoubt, payflow.StateCancelling:
				if p.MiniProgram == nil || p.MiniProgram.Pay == nil {
					doubt++
				}
			}
			if p.Attention() {
				attention++
			}
		}
		ch <- prometheus.MustNewConstMetric(descInDoubt, prometheus.GaugeValue, float64(doubt))
		ch <- prometheus.MustNewConstMetric(descAttention, prometheus.GaugeValue, float64(attention))
	} else {
		journalOK = 0
	}
	ch <- prometheus.MustNewConstMetric(descJournalOK, prometheus.GaugeValue, journalOK)
	for _, d := range c.devices() {
		up := 0.0
		if d.State == "ready" || d.State == "connected" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descDeviceUp, prometheus.GaugeValue, up, d.Name, d.Kind, d.State)
	}
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(c.queue.State().Pending))
}
