// The suite's machinery: one bridge for every experiment, fresh chats per experiment, a load in both directions, and
// a tally of both sides (Mattermost posts through its REST API, Teams messages through the emulator's control API).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

const (
	dirIn  = "Teams→MM"
	dirOut = "MM→Teams"
)

// Suite is the bridge every experiment runs against: one connected Mattermost user (alice) and her Teams twin;
// each experiment adds Teams-only senders, each with a one-on-one chat with alice's twin (a DM with a synthetic
// user in Mattermost), and sends both ways through them.
type Suite struct {
	cfg      Config
	B        *harness.Bridge
	alice    *mmtest.User
	twin     *m365ctl.User
	stateDir string
	senders  atomic.Int64
}

// suiteSettings are the plugin settings of the run: Graph's per-chat budgets raised (the emulator's too) so that
// the experiments stay short; a short Graph timeout (graphRequestTimeoutMs) for the late answer; a reconciliation
// every minute for the silently dropped notifications. Settings the bridge does not know yet are ignored by it.
func suiteSettings(extra map[string]any) map[string]any {
	s := map[string]any{
		"graphChatPostsPerMinute":  600,
		"graphChatWritesPerMinute": 600,
		"graphChatReadsPerMinute":  600,
		"graphRequestTimeoutMs":    3000,
		"reconcileIntervalMinutes": 1,
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// Start starts the bridge, connects alice and waits for the bridge's chats subscription.
func Start(ctx context.Context, cfg Config) (_ *Suite, err error) {
	x := &Suite{cfg: cfg}
	if x.stateDir, err = os.MkdirTemp("", "msteams-chaos-"); err != nil {
		return nil, err
	}
	quiet := func(string, ...any) {}
	startLog := quiet
	if cfg.Verbose {
		startLog = logf
	}
	logf("starting Mattermost with %s and the Microsoft 365 emulator", filepath.Base(cfg.Bundle))
	x.B, err = harness.Start(ctx, harness.Options{Bundle: cfg.Bundle, StateDir: x.stateDir, LogDir: cfg.LogDir,
		LogLevel: cfg.ServerLogLvl, Settings: suiteSettings(cfg.Settings), Logf: startLog})
	if err != nil {
		os.RemoveAll(x.stateDir)
		return nil, err
	}
	defer func() {
		if err != nil {
			logf("--- last 40 lines of the Mattermost log ---\n%s", x.B.MM.LogTail(40))
			x.Close()
		}
	}()
	limit := m365ctl.Limit{Count: 10, PerSeconds: 1}
	if _, err := x.B.Ctl.SetThrottle(ctx, m365ctl.ThrottleUpdate{Limits: map[string]m365ctl.Limit{
		"chatMessagePost.thread": limit, "chatMessagePost.userThread": limit}}); err != nil {
		return nil, fmt.Errorf("raising the emulator's post limits: %w", err)
	}
	if x.alice, err = x.B.MM.CreateUser(ctx, "alice"); err != nil {
		return nil, err
	}
	if x.twin, err = x.B.TeamsTwin(ctx, x.alice, "Alice Adams"); err != nil {
		return nil, err
	}
	if _, err = x.B.Connect(ctx, x.alice, x.twin.ID); err != nil {
		return nil, err
	}
	if _, err := x.chatsSubscription(ctx, time.Minute); err != nil {
		return nil, err
	}
	return x, nil
}

// Close stops everything.
func (x *Suite) Close() {
	if err := x.B.Close(); err != nil {
		logf("stopping: %v", err)
	}
	os.RemoveAll(x.stateDir)
}

// heal clears the emulator's faults and makes sure the database, the server and the plugin run.
func (x *Suite) heal(ctx context.Context) {
	if err := x.B.Ctl.ClearFaults(ctx); err != nil {
		logf("clearing faults: %v", err)
	}
	if err := x.B.MM.StartDatabase(ctx); err == nil {
		logf("PostgreSQL was down: started it again")
	}
	if err := x.pluginRunning(ctx, 2*time.Minute); err != nil {
		logf("the plugin does not run: %v; enabling it", err)
		if err := x.B.MM.EnablePlugin(ctx, harness.PluginID); err != nil {
			logf("enabling the plugin: %v", err)
		}
	}
}

// waitFor polls check (every 250 ms) until it returns "" or timeout passes; the error says what check last said.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func() string) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if last = check(); last == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %s", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (%s)", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (x *Suite) chatsSubscription(ctx context.Context, timeout time.Duration) (*m365ctl.Subscription, error) {
	var found *m365ctl.Subscription
	err := waitFor(ctx, timeout, "the bridge's chats subscription", func() string {
		subs, err := x.B.Ctl.Subscriptions(ctx)
		if err != nil {
			return err.Error()
		}
		for _, s := range subs {
			if strings.HasPrefix(s.Resource, "chats/getAllMessages") {
				found = &s
				return ""
			}
		}
		return fmt.Sprintf("none among %d subscriptions", len(subs))
	})
	return found, err
}

func (x *Suite) pluginRunning(ctx context.Context, timeout time.Duration) error {
	return waitFor(ctx, timeout, "the plugin running", func() string {
		st, err := x.B.MM.PluginStatus(ctx, harness.PluginID)
		if err != nil {
			return err.Error()
		}
		if st.State != model.PluginStateRunning {
			return fmt.Sprintf("state %d", st.State)
		}
		return ""
	})
}

// corePID is the pid of msteams-core, the shim's child below the server.
func (x *Suite) corePID() (int, error) {
	procs, err := x.B.MM.Descendants()
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		if len(p.Cmdline) > 0 && filepath.Base(p.Cmdline[0]) == "msteams-core" {
			return p.PID, nil
		}
	}
	return 0, fmt.Errorf("no msteams-core process below the server (pid %d)", x.B.MM.PID())
}

// killCore kills the core with SIGKILL and waits until the shim has started a new one.
func (x *Suite) killCore(ctx context.Context) (time.Time, error) {
	pid, err := x.corePID()
	if err != nil {
		return time.Time{}, err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	logf("killed msteams-core (pid %d)", pid)
	err = waitFor(ctx, time.Minute, "a new msteams-core", func() string {
		if p, err := x.corePID(); err != nil || p == pid {
			return "not restarted yet"
		}
		return ""
	})
	return at, err
}

// ---- chats -------------------------------------------------------------------------------------------------------

// Pair is one chat of an experiment: a Teams-only sender's one-on-one chat with alice's twin, and the Mattermost DM
// of alice with the sender's synthetic user.
type Pair struct {
	idx    int
	mail   string
	sender *m365ctl.User
	chatID string
	ghost  *model.User
	dm     *model.Channel
}

// newTeamsPair creates a Teams-only sender and its chat with alice's twin (nothing reaches Mattermost yet).
func (x *Suite) newTeamsPair(ctx context.Context, idx int) (*Pair, error) {
	n := x.senders.Add(1)
	mail := fmt.Sprintf("sender%04d@contoso.example", n)
	p := &Pair{idx: idx, mail: mail}
	var err error
	if p.sender, err = x.B.Ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: fmt.Sprintf("Sender %04d", n), Mail: mail,
		UserPrincipalName: mail}); err != nil {
		return nil, fmt.Errorf("creating a Teams sender: %w", err)
	}
	chat, err := x.B.Ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{p.sender.ID, x.twin.ID}})
	if err != nil {
		return nil, fmt.Errorf("creating a chat: %w", err)
	}
	p.chatID = chat.ID
	return p, nil
}

// findDM looks up the sender's synthetic user and alice's DM with it; false while either is missing.
func (x *Suite) findDM(ctx context.Context, p *Pair) (bool, error) {
	if p.dm != nil {
		return true, nil
	}
	ghost, _, err := x.B.MM.AdminClient.GetUserByEmail(ctx, p.mail, "")
	if err != nil {
		return false, nil
	}
	ch, _, err := x.alice.Client.CreateDirectChannel(ctx, x.alice.Id, ghost.Id)
	if err != nil {
		return false, err
	}
	p.ghost, p.dm = ghost, ch
	return true, nil
}

// newPairs creates k bridged chats: each gets a greeting from Teams and waits until it is a post in Mattermost.
func (x *Suite) newPairs(ctx context.Context, k int) ([]*Pair, error) {
	pairs := make([]*Pair, k)
	for i := range pairs {
		p, err := x.newTeamsPair(ctx, i)
		if err != nil {
			return nil, err
		}
		if _, err := x.B.Ctl.Send(ctx, m365ctl.InChat(p.chatID), m365ctl.Post{From: p.sender.ID, Text: "hello from Teams"}); err != nil {
			return nil, err
		}
		pairs[i] = p
	}
	err := waitFor(ctx, time.Minute, "the chats' first messages in Mattermost", func() string {
		var missing []string
		for _, p := range pairs {
			ok, err := x.findDM(ctx, p)
			if err != nil {
				return err.Error()
			}
			if !ok {
				missing = append(missing, fmt.Sprintf("chat %d: no synthetic user", p.idx))
				continue
			}
			posts, err := x.posts(ctx, p.dm.Id)
			if err != nil {
				return err.Error()
			}
			found := false
			for _, po := range posts {
				found = found || strings.Contains(po.Message, "hello from Teams")
			}
			if !found {
				missing = append(missing, fmt.Sprintf("chat %d: no greeting", p.idx))
			}
		}
		return strings.Join(missing, "; ")
	})
	return pairs, err
}

// posts returns every post of a channel (all pages), oldest first.
func (x *Suite) posts(ctx context.Context, channelID string) ([]*model.Post, error) {
	var out []*model.Post
	const per = 200
	for page := 0; page < 100; page++ {
		list, _, err := x.alice.Client.GetPostsForChannel(ctx, channelID, page, per, "", false, false)
		if err != nil {
			return nil, err
		}
		for _, id := range list.Order {
			out = append(out, list.Posts[id])
		}
		if len(list.Order) < per {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreateAt < out[j].CreateAt })
	return out, nil
}

// ---- load --------------------------------------------------------------------------------------------------------

// msgRe matches a chaos message: experiment tag, direction, chat, sequence number in the chat.
var msgRe = regexp.MustCompile(`chaos ([a-z0-9]+) (in|out) c(\d+) s(\d+)`)

func msgText(tag, dir string, chat, seq int) string {
	return fmt.Sprintf("chaos %s %s c%d s%04d", tag, dir, chat, seq)
}

type key struct{ chat, seq int }

// Load sends messages round-robin over the pairs, at cfg.Rate per direction: Teams → Mattermost through the
// emulator's control API (as the Teams senders), Mattermost → Teams as alice. A post that Mattermost refuses (down,
// restarting) is not retried: its number is skipped and it does not count as sent.
type Load struct {
	x      *Suite
	tag    string
	pairs  []*Pair
	nIn    int
	nOut   int
	mu     sync.Mutex
	sentIn map[key]string // → Teams message id
	sentOu map[key]string // → Mattermost post id
	errs   []string
	rate   float64
	done   chan struct{}
	count  atomic.Int64
	last   time.Time
}

func tagOf(name string) string { return strings.ReplaceAll(name, "-", "") }

// startLoad sends nIn messages from Teams and nOut posts from Mattermost in the background.
func (x *Suite) startLoad(ctx context.Context, name string, pairs []*Pair, nIn, nOut int) *Load {
	return x.startLoadAt(ctx, name, pairs, nIn, nOut, x.cfg.Rate)
}

// startLoadAt is startLoad at another rate (messages per second per direction).
func (x *Suite) startLoadAt(ctx context.Context, name string, pairs []*Pair, nIn, nOut int, rate float64) *Load {
	l := &Load{x: x, tag: tagOf(name), pairs: pairs, nIn: nIn, nOut: nOut, sentIn: map[key]string{},
		sentOu: map[key]string{}, rate: rate, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.send(ctx, "in", nIn) }()
	go func() { defer wg.Done(); l.send(ctx, "out", nOut) }()
	go func() { wg.Wait(); close(l.done) }()
	return l
}

func (l *Load) send(ctx context.Context, dir string, n int) {
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(float64(i) / l.rate * float64(time.Second)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(at)):
		}
		p := l.pairs[i%len(l.pairs)]
		seq := i/len(l.pairs) + 1
		text := msgText(l.tag, dir, p.idx, seq)
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		var id string
		var err error
		if dir == "in" {
			var m *m365ctl.Message
			if m, err = l.x.B.Ctl.Send(cctx, m365ctl.InChat(p.chatID), m365ctl.Post{From: p.sender.ID, Text: text}); err == nil {
				id = m.ID
			}
		} else {
			var po *model.Post
			if po, err = l.x.alice.Post(cctx, p.dm.Id, text); err == nil {
				id = po.Id
			}
		}
		cancel()
		l.mu.Lock()
		if err != nil {
			l.errs = append(l.errs, fmt.Sprintf("%s: %v", text, err))
		} else if dir == "in" {
			l.sentIn[key{p.idx, seq}] = id
		} else {
			l.sentOu[key{p.idx, seq}] = id
		}
		l.last = time.Now()
		l.mu.Unlock()
		l.count.Add(1)
	}
}

// waitShare blocks until share (0..1) of the load has been sent (or refused).
func (l *Load) waitShare(ctx context.Context, share float64) {
	total := float64(l.nIn + l.nOut)
	for float64(l.count.Load()) < share*total {
		select {
		case <-ctx.Done():
			return
		case <-l.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait blocks until the load has been sent.
func (l *Load) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-l.done:
	}
}

// ---- tally -------------------------------------------------------------------------------------------------------

// tally is one reading of both sides for a load.
type tally struct {
	rows    map[string]*Row
	missing map[string][]string // direction → what is missing, "chat 1: s0003 s0004…"
}

func (t *tally) complete() bool {
	for _, r := range t.rows {
		if r.Arrived < r.Sent {
			return false
		}
	}
	return true
}

func (t *tally) describe() string {
	var parts []string
	for _, d := range []string{dirIn, dirOut} {
		r := t.rows[d]
		if r == nil || r.Arrived >= r.Sent {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d of %d arrived (missing %s)", d, r.Arrived, r.Sent,
			strings.Join(t.missing[d], "; ")))
	}
	return strings.Join(parts, "; ")
}

// seqList renders sorted sequence numbers compactly: "s0003 s0004 s0009 … (12)".
func seqList(seqs []int) string {
	sort.Ints(seqs)
	var b []string
	for i, s := range seqs {
		if i == 8 {
			b = append(b, fmt.Sprintf("… (%d)", len(seqs)))
			break
		}
		b = append(b, "s"+strconv.Itoa(s))
	}
	return strings.Join(b, " ")
}

// read tallies the load on both sides: Teams → MM from the DMs' posts (and any copy back into Teams), MM → Teams
// from the Teams chats (and any echo back into Mattermost as a second post).
func (l *Load) read(ctx context.Context) (*tally, error) {
	l.mu.Lock()
	sentIn, sentOut := make(map[key]string, len(l.sentIn)), make(map[key]string, len(l.sentOu))
	for k, v := range l.sentIn {
		sentIn[k] = v
	}
	for k, v := range l.sentOu {
		sentOut[k] = v
	}
	l.mu.Unlock()
	t := &tally{rows: map[string]*Row{}, missing: map[string][]string{}}
	in, out := &Row{Direction: dirIn}, &Row{Direction: dirOut}
	if l.nIn > 0 {
		t.rows[dirIn] = in
	}
	if l.nOut > 0 {
		t.rows[dirOut] = out
	}
	for _, p := range l.pairs {
		// Mattermost side.
		mmIn, mmOut := map[int]int{}, map[int]int{}
		type arrival struct {
			at  int64
			seq int
		}
		var arrivals []arrival
		if p.dm == nil {
			if _, err := l.x.findDM(ctx, p); err != nil {
				return nil, err
			}
		}
		if p.dm != nil {
			posts, err := l.x.posts(ctx, p.dm.Id)
			if err != nil {
				return nil, fmt.Errorf("reading the DM of chat %d: %w", p.idx, err)
			}
			for _, po := range posts {
				m := msgRe.FindStringSubmatch(po.Message)
				if m == nil || m[1] != l.tag || m[3] != strconv.Itoa(p.idx) || po.DeleteAt != 0 {
					continue
				}
				seq, _ := strconv.Atoi(m[4])
				if m[2] == "in" {
					mmIn[seq]++
					if mmIn[seq] == 1 {
						arrivals = append(arrivals, arrival{po.CreateAt, seq})
					}
				} else {
					mmOut[seq]++
				}
			}
		}
		// Mattermost orders posts by CreateAt (milliseconds): posts of the same millisecond are taken in the order
		// sent, so only a later CreateAt proves a reordering.
		sort.Slice(arrivals, func(i, j int) bool {
			if arrivals[i].at != arrivals[j].at {
				return arrivals[i].at < arrivals[j].at
			}
			return arrivals[i].seq < arrivals[j].seq
		})
		inOrder := make([]int, len(arrivals))
		for i, a := range arrivals {
			inOrder[i] = a.seq
		}
		// Teams side.
		msgs, err := l.x.B.Ctl.Messages(ctx, m365ctl.InChat(p.chatID))
		if err != nil {
			return nil, fmt.Errorf("reading Teams chat %d: %w", p.idx, err)
		}
		tmIn, tmOut := map[int]int{}, map[int]int{}
		var outOrder []int
		for _, m := range msgs {
			mm := msgRe.FindStringSubmatch(m.Body.Content)
			if mm == nil || mm[1] != l.tag || mm[3] != strconv.Itoa(p.idx) || m.DeletedDateTime != nil {
				continue
			}
			seq, _ := strconv.Atoi(mm[4])
			if mm[2] == "in" {
				tmIn[seq]++
			} else {
				tmOut[seq]++
				if tmOut[seq] == 1 {
					outOrder = append(outOrder, seq)
				}
			}
		}
		count := func(r *Row, dir string, sent map[key]string, dest, origin map[int]int, order []int) {
			var missing []int
			for k := range sent {
				if k.chat != p.idx {
					continue
				}
				r.Sent++
				if dest[k.seq] > 0 {
					r.Arrived++
				} else {
					missing = append(missing, k.seq)
				}
			}
			for seq, n := range dest {
				if _, ok := sent[key{p.idx, seq}]; ok && n > 1 {
					r.Duplicated += n - 1
				}
			}
			for seq, n := range origin { // copies back into the side it came from
				if _, ok := sent[key{p.idx, seq}]; ok && n > 1 {
					r.Duplicated += n - 1
				}
			}
			maxSeq := 0
			for _, seq := range order {
				if _, ok := sent[key{p.idx, seq}]; !ok {
					continue
				}
				if seq < maxSeq {
					r.OutOfOrder++
				}
				maxSeq = max(maxSeq, seq)
			}
			if len(missing) > 0 {
				t.missing[dir] = append(t.missing[dir], fmt.Sprintf("chat %d: %s", p.idx, seqList(missing)))
			}
		}
		count(in, dirIn, sentIn, mmIn, tmIn, inOrder)
		count(out, dirOut, sentOut, tmOut, mmOut, outOrder)
	}
	return t, nil
}

// settle waits (bounded) until the emulator has no notification queued or awaiting a retry, so that late copies
// are in before the final count.
func (x *Suite) settle(ctx context.Context) {
	if _, err := x.B.Ctl.WaitDeliveries(ctx, 30*time.Second); err != nil {
		logf("the emulator's delivery queue did not drain: %v", err)
	}
}

// finish waits until everything sent has arrived (or the timeout), settles, reads both sides once more and returns
// the rows. healedAt is when the fault ended (the zero time: the end of the load).
func (l *Load) finish(ctx context.Context, healedAt time.Time, timeout time.Duration, problems ...string) []*Row {
	l.wait(ctx)
	l.mu.Lock()
	if healedAt.IsZero() {
		healedAt = l.last
	}
	errs := l.errs
	l.mu.Unlock()
	var t *tally
	completeAt := map[string]time.Time{} // direction → when everything sent that way had arrived
	err := waitFor(ctx, timeout, "every message on the other side", func() string {
		var err error
		if t, err = l.read(ctx); err != nil {
			return err.Error()
		}
		for d, r := range t.rows {
			if _, seen := completeAt[d]; !seen && r.Arrived >= r.Sent {
				completeAt[d] = time.Now()
			}
		}
		if !t.complete() {
			return t.describe()
		}
		return ""
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	l.x.settle(ctx)
	if t2, err := l.read(ctx); err == nil {
		t = t2
	} else {
		problems = append(problems, "final reading: "+err.Error())
	}
	if t == nil {
		return failed("both", fmt.Errorf("could not read either side: %s", strings.Join(problems, "; ")))
	}
	if len(errs) > 0 {
		logf("%d sends refused (not counted), e.g. %s", len(errs), errs[0])
	}
	var rows []*Row
	for _, d := range []string{dirIn, dirOut} {
		r := t.rows[d]
		if r == nil {
			continue
		}
		r.Recover = -1
		if at, ok := completeAt[d]; ok {
			r.Recover = max(0, at.Sub(healedAt))
		}
		r.Problems = append(r.Problems, problems...)
		rows = append(rows, r)
	}
	return rows
}

// failed builds a row for an experiment that could not run.
func failed(dir string, err error) []*Row {
	return []*Row{{Direction: dir, Recover: -1, Problems: []string{err.Error()}}}
}
