package m365

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// dItem is one queued notification.
type dItem struct {
	url       string
	appID     string
	subID     string
	encrypted bool
	lifecycle bool
	payload   []byte
	attempts  int
	first     time.Time
}

type endpoint struct {
	url     string
	items   []*dItem
	workers int
	// slow-endpoint accounting (Graph: flushed every 10 minutes)
	windowStart time.Time
	total, slow int
}

// DeliveryStats are delivery counters (control API /counters).
type DeliveryStats = wire.DeliveryStats

type deliveryCounters struct {
	enqueued, delivered, batches, attempts, failedAttempts, retries, slow atomic.Int64
	droppedByFault, duplicated, droppedQueueFull, droppedExpired          atomic.Int64
	droppedSlow, pausedDrops, lifecycle, validations, validationFailures  atomic.Int64
	queued                                                                atomic.Int64
}

// BatchRecord describes one delivery attempt (control API /deliveries).
type BatchRecord = wire.Batch

type deliverer struct {
	e      *Emulator
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	eps    map[string]*endpoint
	closed bool
	wg     sync.WaitGroup
	stats  deliveryCounters

	logMu sync.Mutex
	log   []BatchRecord
	logN  int

	tokMu  sync.Mutex
	tokens map[string]cachedToken
}

const deliveryLogSize = 2000

func newDeliverer(e *Emulator) *deliverer {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AddCert(e.ca.cert)
	for _, c := range e.opts.NotificationRootCAs {
		pool.AddCert(c)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, InsecureSkipVerify: e.opts.InsecureNotificationTLS},
		MaxIdleConnsPerHost: e.opts.Delivery.Concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &deliverer{e: e, ctx: ctx, cancel: cancel, eps: map[string]*endpoint{}, tokens: map[string]cachedToken{},
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (d *deliverer) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	d.client.CloseIdleConnections()
}

func (d *deliverer) snapshot() DeliveryStats {
	s := &d.stats
	return DeliveryStats{Enqueued: s.enqueued.Load(), Delivered: s.delivered.Load(), Batches: s.batches.Load(),
		Attempts: s.attempts.Load(), FailedAttempts: s.failedAttempts.Load(), Retries: s.retries.Load(), Slow: s.slow.Load(),
		DroppedByFault: s.droppedByFault.Load(), Duplicated: s.duplicated.Load(), DroppedQueueFull: s.droppedQueueFull.Load(),
		DroppedExpired: s.droppedExpired.Load(), DroppedSlow: s.droppedSlow.Load(), DroppedPaused: s.pausedDrops.Load(),
		Lifecycle: s.lifecycle.Load(), Validations: s.validations.Load(), ValidationFailures: s.validationFailures.Load(),
		Queued: s.queued.Load()}
}

func (d *deliverer) resetStats() {
	s := &d.stats
	for _, c := range []*atomic.Int64{&s.enqueued, &s.delivered, &s.batches, &s.attempts, &s.failedAttempts, &s.retries, &s.slow,
		&s.droppedByFault, &s.duplicated, &s.droppedQueueFull, &s.droppedExpired, &s.droppedSlow, &s.pausedDrops, &s.lifecycle,
		&s.validations, &s.validationFailures} {
		c.Store(0)
	}
	d.logMu.Lock()
	d.log, d.logN = nil, 0
	d.logMu.Unlock()
}

// enqueue applies delivery faults and queues the item.
func (d *deliverer) enqueue(it *dItem) {
	f := d.e.faults
	d.stats.enqueued.Add(1)
	fc := f.get()
	if f.take(func(x *Faults) *int { return &x.DropDeliveries }) || (fc.DropShare > 0 && rand.Float64() < fc.DropShare) {
		d.stats.droppedByFault.Add(1)
		return
	}
	dup := f.take(func(x *Faults) *int { return &x.DuplicateDeliveries }) || (fc.DuplicateShare > 0 && rand.Float64() < fc.DuplicateShare)
	it.first = time.Now()
	items := []*dItem{it}
	if dup {
		for range max(1, fc.DuplicateCopies) {
			cp := *it
			items = append(items, &cp)
			d.stats.duplicated.Add(1)
		}
	}
	for _, x := range items {
		if fc.DeliveryDelayMs > 0 {
			x := x
			d.stats.queued.Add(1)
			time.AfterFunc(time.Duration(fc.DeliveryDelayMs)*time.Millisecond, func() { d.push(x, true) })
			continue
		}
		d.push(x, false)
	}
}

// push adds an item to its endpoint's queue; counted says the item is
// already included in the queued gauge (a retry or a delayed item).
func (d *deliverer) push(it *dItem, counted bool) {
	opt := &d.e.opts.Delivery
	if !counted {
		if d.stats.queued.Load() >= int64(opt.QueueLimit) {
			d.stats.droppedQueueFull.Add(1)
			return
		}
		d.stats.queued.Add(1)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.stats.queued.Add(-1)
		return
	}
	ep := d.eps[it.url]
	if ep == nil {
		ep = &endpoint{url: it.url, windowStart: time.Now()}
		d.eps[it.url] = ep
	}
	if opt.SlowEndpointRules && ep.total >= 100 {
		share := float64(ep.slow) / float64(ep.total)
		if share >= 0.15 {
			d.mu.Unlock()
			d.stats.queued.Add(-1)
			d.stats.droppedSlow.Add(1)
			return
		}
		if share >= 0.10 && it.attempts == 0 {
			it.attempts = -1 // mark as delayed once
			d.mu.Unlock()
			time.AfterFunc(opt.FlaggedDelay, func() { d.push(it, true) })
			return
		}
	}
	ep.items = append(ep.items, it)
	if ep.workers < opt.Concurrency {
		ep.workers++
		d.wg.Add(1)
		go d.work(ep)
	}
	d.mu.Unlock()
}

func (d *deliverer) work(ep *endpoint) {
	defer d.wg.Done()
	max := d.e.opts.Delivery.MaxBatch
	for {
		d.mu.Lock()
		if d.closed || len(ep.items) == 0 {
			ep.workers--
			if len(ep.items) == 0 && ep.workers == 0 && ep.total == 0 {
				delete(d.eps, ep.url)
			}
			d.mu.Unlock()
			return
		}
		n := len(ep.items)
		if n > max {
			n = max
		}
		batch := make([]*dItem, n)
		copy(batch, ep.items[:n])
		rest := len(ep.items) - n
		if rest == 0 {
			ep.items = nil
		} else {
			ep.items = append(ep.items[:0:0], ep.items[n:]...)
		}
		d.mu.Unlock()
		d.send(ep, batch)
	}
}

func (d *deliverer) body(batch []*dItem) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"value":[`)
	apps := map[string]bool{}
	for i, it := range batch {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it.payload)
		if it.encrypted {
			apps[it.appID] = true
		}
	}
	buf.WriteByte(']')
	if len(apps) > 0 {
		buf.WriteString(`,"validationTokens":[`)
		i := 0
		for app := range apps {
			if i > 0 {
				buf.WriteByte(',')
			}
			i++
			fmt.Fprintf(&buf, "%q", d.validationToken(app))
		}
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func (d *deliverer) send(ep *endpoint, batch []*dItem) {
	opt := &d.e.opts.Delivery
	body := d.body(batch)
	ctx, cancel := context.WithTimeout(d.ctx, opt.Timeout)
	defer cancel()
	start := time.Now()
	status := 0
	var errText string
	req, err := http.NewRequestWithContext(ctx, "POST", ep.url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("User-Agent", "Microsoft-Notification/1.0 (m365-emulator)")
		var resp *http.Response
		resp, err = d.client.Do(req)
		if err == nil {
			status = resp.StatusCode
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
	}
	dur := time.Since(start)
	if err != nil {
		errText = err.Error()
	}
	ok := err == nil && status >= 200 && status < 300
	slow := dur > opt.SlowThreshold
	d.stats.attempts.Add(1)
	d.stats.batches.Add(1)
	if slow {
		d.stats.slow.Add(1)
	}
	d.record(BatchRecord{Time: graphTime(start), URL: ep.url, Items: len(batch), Status: status, Error: errText,
		DurationMs: dur.Milliseconds(), Attempt: batch[0].attempts + 1})
	d.mu.Lock()
	if time.Since(ep.windowStart) > 10*time.Minute {
		ep.windowStart, ep.total, ep.slow = time.Now(), 0, 0
	}
	ep.total += len(batch)
	if slow {
		ep.slow += len(batch)
	}
	d.mu.Unlock()
	if ok {
		d.stats.delivered.Add(int64(len(batch)))
		d.stats.queued.Add(-int64(len(batch)))
		return
	}
	d.stats.failedAttempts.Add(1)
	for _, it := range batch {
		if it.attempts < 0 {
			it.attempts = 0
		}
		it.attempts++
		if time.Since(it.first) > opt.RetryFor {
			d.stats.droppedExpired.Add(1)
			d.stats.queued.Add(-1)
			continue
		}
		delay := opt.RetryBase << min(it.attempts-1, 20)
		if delay > opt.RetryMax || delay <= 0 {
			delay = opt.RetryMax
		}
		delay += time.Duration(rand.Int64N(int64(delay)/5 + 1))
		d.stats.retries.Add(1)
		it := it
		time.AfterFunc(delay, func() { d.push(it, true) })
	}
}

func (d *deliverer) record(r BatchRecord) {
	d.logMu.Lock()
	if len(d.log) < deliveryLogSize {
		d.log = append(d.log, r)
	} else {
		d.log[d.logN%deliveryLogSize] = r
	}
	d.logN++
	d.logMu.Unlock()
}

func (d *deliverer) records() []BatchRecord {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	if len(d.log) < deliveryLogSize {
		return append([]BatchRecord(nil), d.log...)
	}
	i := d.logN % deliveryLogSize
	return append(append([]BatchRecord(nil), d.log[i:]...), d.log[:i]...)
}
