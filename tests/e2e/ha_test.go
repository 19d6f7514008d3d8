package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// The bridge's leadership lease (core/subscriptions/monitor.hpp): a follower takes over within the lease's time to
// live plus one try interval after the leader's last renewal.
const (
	leaseTTL   = 30 * time.Second
	leaseEvery = 5 * time.Second
)

// node is one Mattermost server of the two-node test bed, with its metrics listener and name.
type node struct {
	name     string
	server   *mmtest.Server
	listener string
}

// leaderOf reads one node's metrics listener directly: is its bridge the leader?
func (n node) leader() (bool, error) {
	resp, err := http.Get("http://" + n.listener + "/plugins/com.mattermost.msteams/metrics")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return false, err
	}
	m := regexp.MustCompile(`(?m)^msteams_leader\{[^}]*\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		return false, fmt.Errorf("%s: no msteams_leader sample", n.name)
	}
	return string(m[1]) == "1", nil
}

// TestTwoNodes runs the bridge on two Mattermost servers sharing one database behind a load balancer: Microsoft's
// notifications, the OAuth redirect and the users' requests land on either server at random. It kills the leading
// server mid-traffic (SIGKILL of the server and its plugin processes) and checks what an operator would: one leader
// at a time, the other takes over within the lease time, every message in both directions arrives once and in
// order, and one Prometheus sees both nodes.
func TestTwoNodes(t *testing.T) {
	loadExperiment(t)
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	nodes := []node{
		{name: "node-a", listener: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))},
		{name: "node-b", listener: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))},
	}
	envOf := func(n node) []string {
		return []string{"MM_METRICSSETTINGS_ENABLE=true", "MM_METRICSSETTINGS_LISTENADDRESS=" + n.listener,
			"MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME=" + n.name}
	}
	hb, err := harness.Start(ctx, harness.Options{Bundle: bundlePath(t), StateDir: t.TempDir(), Logf: t.Logf,
		Balanced: true, Env: envOf(nodes[0]),
		// The leader's periodic reconciliation runs every 5 s, so that its counter shows which node runs the jobs.
		Settings: map[string]any{"reconcileIntervalSeconds": 5}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range hb.Nodes {
				t.Logf("--- last 60 lines of the log of %s ---\n%s", s.URL, s.LogTail(60))
			}
		}
		if err := hb.Close(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	nodes[0].server = hb.MM
	b := &bridge{Bridge: hb, mm: hb.MM, emu: hb.Emu, ctl: hb.Ctl}

	// Alice talks with four Teams users in four one-on-one chats: Graph takes one message a second each way per chat,
	// and the bridge keeps to that, so the load is spread over the chats. The chats become DMs before the second
	// server starts: without Mattermost's clustering (a licensed feature) nothing tells one server that another
	// created a channel, and Mattermost 9.11 checks channel permissions against a per-server cache of the user's
	// channels.
	alice, aliceTeams, megan, dm, channel := b.meganDM(t, "hello from Teams")
	chats := []haChat{{teams: megan, chat: dm, channel: channel}}
	for _, name := range []string{"Nestor Wilke", "Lynne Robbins", "Diego Siciliani"} {
		mail := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@contoso.example"
		tu, chat, channel := b.teamsChat(t, alice, aliceTeams,
			m365ctl.UserSpec{DisplayName: name, Mail: mail, UserPrincipalName: mail}, "hello from "+name)
		chats = append(chats, haChat{teams: tu, chat: chat, channel: channel})
	}
	// Alice uses Mattermost through the load balancer, as behind a deployment's proxy.
	aliceLB := model.NewAPIv4Client(hb.LB.URL)
	aliceLB.SetToken(alice.Client.AuthToken)

	if nodes[1].server, err = hb.AddNode(ctx, envOf(nodes[1])); err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, []string{nodes[0].listener, nodes[1].listener}, "", "",
		filepath.Join(root, "assets/prometheus/msteams-alerts.yml"))

	var leader, follower node
	t.Run("one node leads: one subscription, one node running the jobs", func(t *testing.T) {
		within(t, leaseTTL+2*leaseEvery, func() string {
			var leaders []string
			for _, n := range nodes {
				is, err := n.leader()
				if err != nil {
					return err.Error()
				}
				if is {
					leaders = append(leaders, n.name)
					leader = n
				} else {
					follower = n
				}
			}
			if len(leaders) != 1 {
				return fmt.Sprintf("leaders: %v", leaders)
			}
			return ""
		})
		subs, err := b.ctl.Subscriptions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		chats := 0
		for _, s := range subs {
			if strings.HasPrefix(s.Resource, "chats/getAllMessages") {
				chats++
			}
		}
		if chats != 1 {
			t.Errorf("%d chats subscriptions in the tenant, want 1", chats)
		}
		// The reconciliation job queues the active chat on the leader only.
		prom.waitValue(t, 30*time.Second, fmt.Sprintf(`msteams_reconciles_total{node=%q}`, leader.name),
			func(v float64) bool { return v > 0 })
		if s, err := prom.query(fmt.Sprintf(`msteams_reconciles_total{node=%q} > 0`, follower.name)); err != nil ||
			len(s) > 0 {
			t.Errorf("the follower %s ran the reconciliation job (%v)", follower.name, err)
		}
		t.Logf("leader %s, follower %s", leader.name, follower.name)
	})
	if leader.server == nil {
		t.FailNow()
	}

	t.Run("both nodes' metrics in one Prometheus", func(t *testing.T) {
		within(t, 30*time.Second, func() string {
			s, err := prom.query(`sum by (node) (msteams_core_up)`)
			if err != nil {
				return err.Error()
			}
			var names []string
			for _, x := range s {
				if x.number() == 1 {
					names = append(names, x.Metric["node"])
				}
			}
			sort.Strings(names)
			if strings.Join(names, ",") != "node-a,node-b" {
				return fmt.Sprintf("cores up: %v", names)
			}
			return ""
		})
		prom.waitValue(t, 30*time.Second, `sum(msteams_leader)`, func(v float64) bool { return v == 1 })
	})

	const perChat = 25 // messages each way per chat, one every 1.2 s: 30 s of load, the leader killed after 10 s
	var handOver time.Duration
	t.Run("load both ways while the leader is killed: nothing lost, nothing twice, in order", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 2*len(chats))
		for k, c := range chats {
			wg.Add(2)
			go func() { // the Teams user writes
				defer wg.Done()
				for i := 1; i <= perChat; i++ {
					if _, err := b.ctl.Send(ctx, m365ctl.InChat(c.chat.ID),
						m365ctl.Post{From: c.teams.ID, Text: fmt.Sprintf("in c%d %03d", k, i)}); err != nil {
						errs <- err
						return
					}
					time.Sleep(1200 * time.Millisecond)
				}
			}()
			go func() { // Alice answers from Mattermost
				defer wg.Done()
				time.Sleep(time.Duration(k) * 300 * time.Millisecond)
				for i := 1; i <= perChat; i++ {
					if err := postOnce(ctx, aliceLB, c.channel.Id, fmt.Sprintf("out c%d %03d", k, i)); err != nil {
						errs <- err
						return
					}
					time.Sleep(1200 * time.Millisecond)
				}
			}()
		}
		time.Sleep(10 * time.Second)
		if err := leader.server.Kill(); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		for handOver == 0 {
			if is, err := follower.leader(); err == nil && is {
				handOver = time.Since(at)
			} else if time.Since(at) > 2*leaseTTL {
				t.Errorf("%s has not taken over %s after %s was killed (%v)", follower.name, time.Since(at),
					leader.name, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s took over %.1f s after %s was killed", follower.name, handOver.Seconds(), leader.name)
		if handOver > leaseTTL+leaseEvery+time.Second {
			t.Errorf("hand-over took %s, want at most the lease time (%s) plus one try (%s)", handOver, leaseTTL, leaseEvery)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("sending: %v", err)
		}

		survivor := &mmtest.User{User: alice.User, Client: model.NewAPIv4Client(follower.server.URL)}
		survivor.Client.SetToken(alice.Client.AuthToken)
		inbound := make([][]string, len(chats))
		outbound := make([][]string, len(chats))
		var done time.Duration
		within(t, 2*time.Minute, func() string {
			missing := 0
			for k, c := range chats {
				inbound[k] = allPosts(t, survivor, c.channel.Id, "in ")
				outbound[k] = outbound[k][:0]
				for _, m := range b.teamsMessages(t, c.chat.ID) {
					if strings.HasPrefix(m.Body.Content, "<p>out ") {
						outbound[k] = append(outbound[k], strings.TrimSuffix(strings.TrimPrefix(m.Body.Content, "<p>"), "</p>"))
					}
				}
				missing += max(0, perChat-len(inbound[k])) + max(0, perChat-len(outbound[k]))
			}
			if missing > 0 {
				return fmt.Sprintf("%d of %d messages still missing", missing, 2*perChat*len(chats))
			}
			done = time.Since(at)
			return ""
		})
		t.Logf("all %d messages (%d each way) arrived %.1f s after the kill", 2*perChat*len(chats),
			perChat*len(chats), done.Seconds())
		for k := range chats {
			for _, dir := range []struct {
				what, prefix string
				got          []string
			}{{"in Mattermost", "in", inbound[k]}, {"in Teams", "out", outbound[k]}} {
				if len(dir.got) != perChat {
					t.Errorf("chat %d: %d messages %s, want %d (duplicates)", k, len(dir.got), dir.what, perChat)
				}
				for i, m := range dir.got {
					if want := fmt.Sprintf("%s c%d %03d", dir.prefix, k, i+1); m != want {
						t.Errorf("chat %d %s: position %d is %q, want %q", k, dir.what, i, m, want)
						break
					}
				}
			}
		}
		deliveries, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Graph's notification deliveries: %+v", deliveries.Delivery)
		served := hb.LB.Served("/plugins/com.mattermost.msteams/changes")
		t.Logf("notifications answered per node: %v", served)
		if len(served) != 2 {
			t.Errorf("notifications reached %d nodes, want both", len(served))
		}
	})

	t.Run("the survivor runs the jobs and recovers what the dead node's hooks lost", func(t *testing.T) {
		// The dead node's heartbeat ages past the lease time: the survivor looks for posts whose hooks it lost, once.
		prom.waitValue(t, 30*time.Second, fmt.Sprintf(`msteams_nodes_lost_total{node=%q}`, follower.name),
			func(v float64) bool { return v == 1 })
		recovered := prom.waitValue(t, 10*time.Second, `sum(msteams_outbound_hooks_recovered_total)`,
			func(float64) bool { return true })
		t.Logf("posts whose hook was lost with %s, recovered: %v", leader.name, recovered)
		// Taking over, it reads every chat forward; then its reconciliation runs (once the dead node's claims on
		// the inbox have expired).
		prom.waitValue(t, 30*time.Second, fmt.Sprintf(`msteams_catchups_total{node=%q}`, follower.name),
			func(v float64) bool { return v > 0 })
		prom.waitValue(t, 60*time.Second, fmt.Sprintf(`msteams_reconciles_total{node=%q}`, follower.name),
			func(v float64) bool { return v > 0 })
	})
}

// haChat is a Teams one-on-one chat with alice and its Mattermost DM.
type haChat struct {
	teams   *m365ctl.User
	chat    *m365ctl.Chat
	channel *model.Channel
}

// postOnce creates a post through c, as a user does once: when the request fails without an answer (the server
// behind the balancer died), the post is looked for before it is sent again.
func postOnce(ctx context.Context, c *model.Client4, channelID, message string) error {
	var last error
	for try := 0; try < 20; try++ {
		if _, _, err := c.CreatePost(ctx, &model.Post{ChannelId: channelID, Message: message}); err == nil {
			return nil
		} else {
			last = err
		}
		time.Sleep(500 * time.Millisecond)
		list, _, err := c.GetPostsForChannel(ctx, channelID, 0, 50, "", false, false)
		if err != nil {
			continue
		}
		for _, p := range list.Posts {
			if p.Message == message {
				return nil
			}
		}
	}
	return fmt.Errorf("posting %q: %w", message, last)
}
