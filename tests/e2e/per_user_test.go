package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// The per-user and hybrid modes on the real Mattermost, with an organization quota of 20 Teams subscriptions and 60
// connected users: every message arrives once and in order, the quota is never exceeded (Graph's 403 shrinks the
// bridge's budget), and in hybrid mode the rich subscriptions move to the users whose chats get busy.

const (
	perUserQuota = 20
	perUserUsers = 60
)

// quotaWatch polls the emulator's subscriptions until stopped and keeps the largest count seen.
type quotaWatch struct {
	most atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchQuota(b *bridge) *quotaWatch {
	w := &quotaWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if subs, err := b.ctl.Subscriptions(context.Background()); err == nil && int64(len(subs)) > w.most.Load() {
				w.most.Store(int64(len(subs)))
			}
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *quotaWatch) end() int64 {
	close(w.stop)
	<-w.done
	return w.most.Load()
}

// richOwners are the Teams users the bridge holds a per-user subscription for.
func richOwners(t *testing.T, b *bridge) map[string]bool {
	t.Helper()
	subs, err := b.ctl.Subscriptions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range subs {
		if rest, ok := strings.CutPrefix(s.Resource, "users/"); ok {
			out[rest[:strings.IndexByte(rest, '/')]] = true
		}
	}
	return out
}

type perUserBed struct {
	users   []*mmtest.User
	teams   []*m365ctl.User
	chats   []*m365ctl.Chat
	dms     []string // Mattermost DM channel ids, by user
	megan   *m365ctl.User
	sent    [][]string // texts sent in each chat, in order
	sentMux sync.Mutex
}

// connectMany connects perUserUsers Mattermost users (with Teams twins), a few at a time, and gives each a Teams
// one-on-one chat with Megan Bowen, bridged after her first message.
func connectMany(t *testing.T, b *bridge) *perUserBed {
	t.Helper()
	ctx := context.Background()
	bed := &perUserBed{users: make([]*mmtest.User, perUserUsers), teams: make([]*m365ctl.User, perUserUsers),
		chats: make([]*m365ctl.Chat, perUserUsers), dms: make([]string, perUserUsers), sent: make([][]string, perUserUsers)}
	bed.megan = b.megan(t)
	var wg sync.WaitGroup
	errs := make(chan error, perUserUsers)
	slots := make(chan struct{}, 6)
	for i := 0; i < perUserUsers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			u, err := b.mm.CreateUser(ctx, fmt.Sprintf("pu%02d", i))
			if err != nil {
				errs <- err
				return
			}
			tu, err := b.TeamsTwin(ctx, u, fmt.Sprintf("Person %02d", i))
			if err != nil {
				errs <- err
				return
			}
			if _, err := b.Connect(ctx, u, tu.ID); err != nil {
				errs <- fmt.Errorf("connecting %s: %w", u.Username, err)
				return
			}
			chat, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{bed.megan.ID, tu.ID}})
			if err != nil {
				errs <- err
				return
			}
			bed.users[i], bed.teams[i], bed.chats[i] = u, tu, chat
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return bed
}

// send has Megan write `n` messages in each of the chats `which`, interleaved across chats.
func (bed *perUserBed) send(t *testing.T, b *bridge, which []int, n int, tag string) {
	t.Helper()
	ctx := context.Background()
	for k := 1; k <= n; k++ {
		for _, i := range which {
			text := fmt.Sprintf("%s %02d-%d", tag, i, k)
			if _, err := b.ctl.Send(ctx, m365ctl.InChat(bed.chats[i].ID), m365ctl.Post{From: bed.megan.ID, Text: text}); err != nil {
				t.Fatal(err)
			}
			bed.sentMux.Lock()
			bed.sent[i] = append(bed.sent[i], text)
			bed.sentMux.Unlock()
		}
	}
}

// arrived waits until every chat's Mattermost DM holds exactly what was sent, once each and in order.
func (bed *perUserBed) arrived(t *testing.T, b *bridge, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	within(t, timeout, func() string {
		for i, u := range bed.users {
			if bed.dms[i] == "" {
				ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, meganSpec.Mail, "")
				if err != nil {
					return "no synthetic user for Megan yet"
				}
				channel, _, err := u.Client.CreateDirectChannel(ctx, u.Id, ghost.Id)
				if err != nil {
					return err.Error()
				}
				bed.dms[i] = channel.Id
			}
			got := allPosts(t, u, bed.dms[i], "m")
			if want := bed.sent[i]; fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("%s's DM has %q, want %q", u.Username, got, want)
			}
		}
		return ""
	})
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestPerUserSubscriptions(t *testing.T) {
	loadExperiment(t)
	for _, mode := range []string{"per-user", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			// Activity halves in 5 min: long beside the planner's 30 s passes, so two messages still count (≥ 1) at
			// the next pass whenever they came; the busy chats below still overtake the quiet ones within rounds.
			b := startBridge(t, map[string]any{"subscriptionMode": mode, "perUserSubscriptionBudget": 40,
				"plannerHalfLifeSeconds": 300, "plannerMinHoldSeconds": 0})
			if _, err := b.ctl.SetQuotas(ctx, m365ctl.Quotas{PerAppPerThread: 1, PerUser: 10, PerTenant: perUserQuota}); err != nil {
				t.Fatal(err)
			}
			watch := watchQuota(b)
			bed := connectMany(t, b)
			// The first round also meets the rich subscriptions being made (per-user) and every chat's first
			// messages: notified in any order, posted in the order written.
			bed.send(t, b, all(perUserUsers), 2, "m")
			bed.arrived(t, b, 90*time.Second)
			// The budget asked for (40) is more than the organization has (20): Graph's 403 leaves the bridge with
			// the global subscription and 19 users' rich ones (per-user: from the first connection on; hybrid: once
			// the users' chats have carried messages).
			within(t, 60*time.Second, func() string {
				if n := len(richOwners(t, b)); n != perUserQuota-1 {
					return fmt.Sprintf("%d users on a rich subscription, want %d", n, perUserQuota-1)
				}
				return ""
			})
			status := b.command(t, b.mm.Admin, bed.dms[0], "/msteams status")
			mustContain(t, "status", status, "("+mode+")", "19 users on a rich subscription", "budget 20 subscriptions",
				"shrunk from 40")

			if mode == "hybrid" {
				// The last 20 users' chats get busy: within a few planner passes the rich subscriptions are theirs.
				busy := all(perUserUsers)[perUserUsers-20:]
				busyTeams := map[string]bool{}
				for _, i := range busy {
					busyTeams[bed.teams[i].ID] = true
				}
				deadline := time.Now().Add(150 * time.Second)
				moved := 0
				for round := 0; time.Now().Before(deadline); round++ {
					bed.send(t, b, busy, 1, fmt.Sprintf("m busy%d", round))
					moved = 0
					for owner := range richOwners(t, b) {
						if busyTeams[owner] {
							moved++
						}
					}
					if moved >= perUserQuota-1 {
						break
					}
					time.Sleep(3 * time.Second)
				}
				if moved < perUserQuota-1 {
					t.Errorf("%d of the %d rich subscriptions went to the busy users, want all", moved, perUserQuota-1)
				}
				explained := b.command(t, b.mm.Admin, bed.dms[0], "/msteams status @"+bed.users[perUserUsers-1].Username)
				mustContain(t, "explain a busy user", explained, "has a rich subscription")
				explained = b.command(t, b.mm.Admin, bed.dms[0], "/msteams status @"+bed.users[0].Username)
				mustContain(t, "explain a quiet user", explained, "global subscription")
				refused := b.command(t, bed.users[0], bed.dms[0], "/msteams status @"+bed.users[1].Username)
				mustContain(t, "explain as a user", refused, "takes no arguments")
			}
			bed.send(t, b, all(perUserUsers), 1, "m last")
			bed.arrived(t, b, 90*time.Second)
			if most := watch.end(); most > perUserQuota {
				t.Errorf("the tenant held %d Teams subscriptions at once, more than its quota of %d", most, perUserQuota)
			}
			if applied := b.stats(t)["rich_applied"]; applied == 0 {
				t.Error("no message was applied from a rich notification")
			}
		})
	}
}
