// The experiments. Each makes its own chats, sends its load, injects its fault while the load runs, and returns the
// rows measured by Load.finish (or its own, for deletes and convergence).
package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// pause is a fault's duration (not a wait for a result): it returns early when ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func expCoreKill(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	l := x.startLoad(ctx, "core-kill", pairs, x.cfg.N, x.cfg.N)
	var problems []string
	var healed time.Time
	for _, share := range []float64{0.3, 0.65} {
		l.waitShare(ctx, share)
		at, err := x.killCore(ctx)
		if err != nil {
			problems = append(problems, err.Error())
		}
		healed = at
	}
	return l.finish(ctx, healed, x.cfg.Timeout, problems...)
}

func expPGStop(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	l := x.startLoad(ctx, "pg-stop", pairs, x.cfg.N, x.cfg.N)
	l.waitShare(ctx, 0.3)
	var problems []string
	logf("stopping PostgreSQL for %s", x.cfg.Outage)
	if err := x.B.MM.StopDatabase(); err != nil {
		problems = append(problems, "stopping PostgreSQL: "+err.Error())
	}
	pause(ctx, x.cfg.Outage)
	if err := x.B.MM.StartDatabase(ctx); err != nil {
		problems = append(problems, "starting PostgreSQL: "+err.Error())
	}
	logf("PostgreSQL is back")
	return l.finish(ctx, time.Now(), x.cfg.Timeout, problems...)
}

func expMMRestart(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	l := x.startLoad(ctx, "mm-restart", pairs, x.cfg.N, x.cfg.N)
	l.waitShare(ctx, 0.3)
	var problems []string
	logf("restarting Mattermost")
	if err := x.B.MM.Restart(ctx); err != nil {
		problems = append(problems, "restarting Mattermost: "+err.Error())
	}
	if err := x.pluginRunning(ctx, 2*time.Minute); err != nil {
		problems = append(problems, err.Error())
	}
	logf("Mattermost is back with the plugin running")
	return l.finish(ctx, time.Now(), x.cfg.Timeout, problems...)
}

func expStorm(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	l := x.startLoad(ctx, "storm", pairs, x.cfg.N, x.cfg.N)
	var problems []string
	for _, step := range []struct {
		share float64
		f     m365ctl.Faults
	}{
		{0.15, m365ctl.Faults{ErrorShare: 0.6, ErrorStatus: 429}},
		{0.4, m365ctl.Faults{ErrorShare: 0.6, ErrorStatus: 503}},
		{0.6, m365ctl.Faults{ErrorShare: 0.4, ErrorStatus: 500, Hosts: []string{"graph", "login"}}},
	} {
		l.waitShare(ctx, step.share)
		logf("storm: %g of Graph requests answer %d", step.f.ErrorShare, step.f.ErrorStatus)
		if err := x.B.Ctl.SetFaults(ctx, step.f); err != nil {
			problems = append(problems, err.Error())
		}
	}
	l.waitShare(ctx, 0.8)
	if err := x.B.Ctl.ClearFaults(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	logf("storm over")
	return l.finish(ctx, time.Now(), x.cfg.Timeout, problems...)
}

func expLateAnswer(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	// The first message POST of the load takes effect at once but is answered cfg.LateMs later: longer than the
	// bridge's Graph timeout.
	if err := x.B.Ctl.SetFaults(ctx, m365ctl.Faults{LateResponseMs: x.cfg.LateMs, LateResponses: 1,
		RouteContains: "POST /v1.0/chats/{chid}/messages"}); err != nil {
		return failed("both", err)
	}
	n := max(3*len(pairs), x.cfg.N/4)
	l := x.startLoad(ctx, "late-answer", pairs, n, n)
	var problems []string
	// The fault is spent once the bridge has posted; then it ends by itself.
	err = waitFor(ctx, time.Minute, "the late answer taken", func() string {
		f, err := x.B.Ctl.GetFaults(ctx)
		if err != nil {
			return err.Error()
		}
		if f.LateResponses > 0 {
			return "no message POST yet"
		}
		return ""
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	return l.finish(ctx, time.Time{}, x.cfg.Timeout+time.Duration(x.cfg.LateMs)*time.Millisecond, problems...)
}

// dropLoad sends a load while every notification is dropped, then clears the fault.
func dropLoad(ctx context.Context, x *Suite, name string) (*Load, []string, error) {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return nil, nil, err
	}
	if err := x.B.Ctl.SetFaults(ctx, m365ctl.Faults{DropShare: 1}); err != nil {
		return nil, nil, err
	}
	l := x.startLoad(ctx, name, pairs, x.cfg.N, x.cfg.N)
	l.wait(ctx)
	var problems []string
	// The outbound posts must have reached Teams before the drop ends, or their echoes would not be dropped.
	if err := waitFor(ctx, x.cfg.Timeout, "the posts in Teams", func() string {
		t, err := l.read(ctx)
		if err != nil {
			return err.Error()
		}
		if r := t.rows[dirOut]; r != nil && r.Arrived < r.Sent {
			return t.describe()
		}
		return ""
	}); err != nil {
		problems = append(problems, err.Error())
	}
	c, err := x.B.Ctl.Counters(ctx)
	if err == nil {
		logf("notifications dropped so far: %d", c.Delivery.DroppedByFault)
	}
	return l, problems, x.B.Ctl.ClearFaults(ctx)
}

func expDropMissed(ctx context.Context, x *Suite) []*Row {
	l, problems, err := dropLoad(ctx, x, "drop-missed")
	if err != nil {
		return failed("both", err)
	}
	sub, err := x.chatsSubscription(ctx, time.Minute)
	if err != nil {
		return failed("both", err)
	}
	if _, err := x.B.Ctl.SendLifecycle(ctx, sub.ID, m365ctl.Missed); err != nil {
		problems = append(problems, "sending `missed`: "+err.Error())
	}
	logf("sent a `missed` lifecycle event")
	return l.finish(ctx, time.Now(), x.cfg.Timeout, problems...)
}

func expDropSilent(ctx context.Context, x *Suite) []*Row {
	l, problems, err := dropLoad(ctx, x, "drop-silent")
	if err != nil {
		return failed("both", err)
	}
	logf("no lifecycle event; waiting up to %s for reconciliation", x.cfg.SilentWait)
	return l.finish(ctx, time.Now(), x.cfg.SilentWait, problems...)
}

func expTriple(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	if err := x.B.Ctl.SetFaults(ctx, m365ctl.Faults{DuplicateShare: 1, DuplicateCopies: 2}); err != nil {
		return failed("both", err)
	}
	l := x.startLoad(ctx, "triple", pairs, x.cfg.N, x.cfg.N)
	rows := l.finish(ctx, time.Time{}, x.cfg.Timeout)
	if c, err := x.B.Ctl.Counters(ctx); err == nil {
		logf("extra copies delivered so far: %d", c.Delivery.Duplicated)
	}
	return rows
}

// offline runs send while the plugin is disabled, then enables it and returns when it runs again.
func offline(ctx context.Context, x *Suite, send func() error) (time.Time, error) {
	if err := x.B.MM.DisablePlugin(ctx, harness.PluginID); err != nil {
		return time.Time{}, fmt.Errorf("disabling the plugin: %w", err)
	}
	logf("plugin disabled")
	err := send()
	if eerr := x.B.MM.EnablePlugin(ctx, harness.PluginID); eerr != nil {
		return time.Time{}, fmt.Errorf("enabling the plugin: %w", eerr)
	}
	logf("plugin enabled")
	return time.Now(), err
}

func expDowntime(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, 1)
	if err != nil {
		return failed(dirIn, err)
	}
	var l *Load
	healed, err := offline(ctx, x, func() error {
		l = x.startLoadAt(ctx, "downtime-1100", pairs, x.cfg.Downtime, 0, 200)
		l.wait(ctx)
		logf("sent %d messages into one chat", x.cfg.Downtime)
		return nil
	})
	if err != nil {
		return failed(dirIn, err)
	}
	return l.finish(ctx, healed, x.cfg.Timeout)
}

func expNewChatDowntime(ctx context.Context, x *Suite) []*Row {
	var l *Load
	healed, err := offline(ctx, x, func() error {
		p, err := x.newTeamsPair(ctx, 0)
		if err != nil {
			return err
		}
		l = x.startLoadAt(ctx, "new-chat-downtime", []*Pair{p}, max(3, x.cfg.N/4), 0, 50)
		l.wait(ctx)
		return nil
	})
	if err != nil {
		return failed(dirIn, err)
	}
	return l.finish(ctx, healed, x.cfg.Timeout)
}

// expDeleteCrash: a Teams message is deleted while new messages follow it in the same chats; the core is killed as
// soon as the first deletion shows in Mattermost (so the batch holding it is likely mid-way). Every later message
// must still arrive, in order, and every deleted one must be gone from Mattermost.
func expDeleteCrash(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed(dirIn, err)
	}
	la := x.startLoadAt(ctx, "delete-crash-a", pairs, 2*len(pairs), 0, 50)
	pre := la.finish(ctx, time.Time{}, x.cfg.Timeout)
	for _, r := range pre {
		if r.Arrived < r.Sent {
			return failed(dirIn, fmt.Errorf("before the fault: %d of %d arrived", r.Arrived, r.Sent))
		}
	}
	// Delete each chat's first message, then send more right behind.
	victims := map[int]string{} // chat → Teams message id
	la.mu.Lock()
	for k, id := range la.sentIn {
		if k.seq == 1 {
			victims[k.chat] = id
		}
	}
	la.mu.Unlock()
	for _, p := range pairs {
		if err := x.B.Ctl.Delete(ctx, m365ctl.InChat(p.chatID), victims[p.idx], p.sender.ID); err != nil {
			return failed(dirIn, err)
		}
	}
	lb := x.startLoadAt(ctx, "delete-crash-b", pairs, x.cfg.N, 0, 4*x.cfg.Rate)
	var problems []string
	deletedIn := func() (int, error) {
		n := 0
		for _, p := range pairs {
			posts, err := x.posts(ctx, p.dm.Id)
			if err != nil {
				return 0, err
			}
			live := false
			for _, po := range posts {
				live = live || strings.Contains(po.Message, msgText(la.tag, "in", p.idx, 1))
			}
			if !live {
				n++
			}
		}
		return n, nil
	}
	if err := waitFor(ctx, time.Minute, "a deletion in Mattermost", func() string {
		if n, err := deletedIn(); err != nil {
			return err.Error()
		} else if n == 0 {
			return "no deleted post yet"
		}
		return ""
	}); err != nil {
		problems = append(problems, err.Error())
	}
	healed, err := x.killCore(ctx)
	if err != nil {
		problems = append(problems, err.Error())
	}
	rows := lb.finish(ctx, healed, x.cfg.Timeout, problems...)
	del := &Row{Direction: dirIn + " deletes", Sent: len(pairs), Recover: -1}
	if err := waitFor(ctx, x.cfg.Timeout, "the deletions in Mattermost", func() string {
		n, err := deletedIn()
		if err != nil {
			return err.Error()
		}
		if del.Arrived = n; n < len(pairs) {
			return fmt.Sprintf("%d of %d deleted", n, len(pairs))
		}
		return ""
	}); err != nil {
		del.Problems = append(del.Problems, err.Error())
	} else {
		del.Recover = max(0, time.Since(healed))
	}
	return append(rows, del)
}

// expConverge: messages both ways, then edits, deletes and reactions on both sides while Graph fails a share of
// requests and the core is killed halfway; the final state of every message must match on both sides.
func expConverge(ctx context.Context, x *Suite) []*Row {
	pairs, err := x.newPairs(ctx, x.cfg.Pairs)
	if err != nil {
		return failed("both", err)
	}
	m := max(3*len(pairs), x.cfg.N/2)
	l := x.startLoad(ctx, "converge", pairs, m, m)
	pre := l.finish(ctx, time.Time{}, x.cfg.Timeout)
	for _, r := range pre {
		if r.Arrived < r.Sent {
			return failed("both", fmt.Errorf("before the faults (%s): %d of %d arrived", r.Direction, r.Arrived, r.Sent))
		}
	}
	pairOf := map[int]*Pair{}
	for _, p := range pairs {
		pairOf[p.idx] = p
	}
	var problems []string
	if err := x.B.Ctl.SetFaults(ctx, m365ctl.Faults{ErrorShare: 0.3, ErrorStatus: 503}); err != nil {
		problems = append(problems, err.Error())
	}
	// Operation by sequence number: 1 edit, 2 delete, 0 react (mod 3).
	op := func(seq int) string { return [...]string{"react", "edit", "delete"}[seq%3] }
	l.mu.Lock()
	sentIn, sentOut := l.sentIn, l.sentOu
	l.mu.Unlock()
	var ops []func() error
	for k, id := range sentIn {
		p, k, id := pairOf[k.chat], k, id
		thread := m365ctl.InChat(p.chatID)
		ops = append(ops, func() error {
			switch op(k.seq) {
			case "edit":
				_, err := x.B.Ctl.Edit(ctx, thread, id, m365ctl.Post{From: p.sender.ID, Text: msgText(l.tag, "in", k.chat, k.seq) + " edited"})
				return err
			case "delete":
				return x.B.Ctl.Delete(ctx, thread, id, p.sender.ID)
			}
			return x.B.Ctl.React(ctx, thread, id, p.sender.ID, "like")
		})
	}
	for k, id := range sentOut {
		k, id := k, id
		ops = append(ops, func() error {
			switch op(k.seq) {
			case "edit":
				_, err := x.alice.Edit(ctx, id, msgText(l.tag, "out", k.chat, k.seq)+" edited")
				return err
			case "delete":
				return x.alice.Delete(ctx, id)
			}
			return x.alice.React(ctx, id, "+1")
		})
	}
	interval := time.Duration(float64(time.Second) / x.cfg.Rate)
	for i, f := range ops {
		if i == len(ops)/2 {
			if _, err := x.killCore(ctx); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if err := f(); err != nil {
			problems = append(problems, "operation: "+err.Error())
		}
		pause(ctx, interval)
	}
	if err := x.B.Ctl.ClearFaults(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	healed := time.Now()
	logf("%d operations done; faults cleared", len(ops))

	in := &Row{Direction: dirIn + " edits", Sent: len(sentIn), Recover: -1}
	out := &Row{Direction: dirOut + " edits", Sent: len(sentOut), Recover: -1}
	var why []string
	check := func() string {
		in.Arrived, in.Duplicated, out.Arrived, out.Duplicated = 0, 0, 0, 0
		why = why[:0]
		for _, p := range pairs {
			posts, err := x.posts(ctx, p.dm.Id)
			if err != nil {
				return err.Error()
			}
			live := map[string][]*model.Post{} // "in 3" → live posts
			for _, po := range posts {
				mm := msgRe.FindStringSubmatch(po.Message)
				if mm == nil || mm[1] != l.tag || mm[3] != strconv.Itoa(p.idx) || po.DeleteAt != 0 {
					continue
				}
				k := mm[2] + " " + mm[4]
				live[k] = append(live[k], po)
			}
			msgs, err := x.B.Ctl.Messages(ctx, m365ctl.InChat(p.chatID))
			if err != nil {
				return err.Error()
			}
			teams := map[string][]m365ctl.Message{} // "out 3" → live Teams messages
			for _, m := range msgs {
				mm := msgRe.FindStringSubmatch(m.Body.Content)
				if mm == nil || mm[1] != l.tag || mm[3] != strconv.Itoa(p.idx) || m.DeletedDateTime != nil {
					continue
				}
				k := mm[2] + " " + mm[4]
				teams[k] = append(teams[k], m)
			}
			for k := range sentIn {
				if k.chat != p.idx {
					continue
				}
				posts := live[fmt.Sprintf("in %04d", k.seq)]
				if len(posts) > 1 {
					in.Duplicated += len(posts) - 1
				}
				ok := false
				switch op(k.seq) {
				case "delete":
					ok = len(posts) == 0
				case "edit":
					ok = len(posts) > 0 && strings.Contains(posts[0].Message, "edited")
				case "react":
					if len(posts) > 0 {
						rs, _, err := x.alice.Client.GetReactions(ctx, posts[0].Id)
						for _, r := range rs {
							ok = ok || (err == nil && r.EmojiName == "+1" && r.UserId == p.ghost.Id)
						}
					}
				}
				if ok {
					in.Arrived++
				} else {
					why = append(why, fmt.Sprintf("in chat %d s%d (%s)", k.chat, k.seq, op(k.seq)))
				}
			}
			for k := range sentOut {
				if k.chat != p.idx {
					continue
				}
				ms := teams[fmt.Sprintf("out %04d", k.seq)]
				if len(ms) > 1 {
					out.Duplicated += len(ms) - 1
				}
				ok := false
				switch op(k.seq) {
				case "delete":
					ok = len(ms) == 0
				case "edit":
					ok = len(ms) > 0 && strings.Contains(ms[0].Body.Content, "edited")
				case "react":
					for _, m := range ms {
						for _, r := range m.Reactions {
							ok = ok || (r.ReactionType == "like" && r.User.User != nil && r.User.User.ID == x.twin.ID)
						}
					}
				}
				if ok {
					out.Arrived++
				} else {
					why = append(why, fmt.Sprintf("out chat %d s%d (%s)", k.chat, k.seq, op(k.seq)))
				}
			}
		}
		if len(why) > 0 {
			if len(why) > 8 {
				return fmt.Sprintf("%d not converged: %s …", len(why), strings.Join(why[:8], ", "))
			}
			return fmt.Sprintf("%d not converged: %s", len(why), strings.Join(why, ", "))
		}
		return ""
	}
	err = waitFor(ctx, x.cfg.Timeout, "both sides converged", check)
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		in.Recover, out.Recover = time.Since(healed), time.Since(healed)
	}
	x.settle(ctx)
	if msg := check(); msg != "" && err == nil {
		problems = append(problems, "after settling: "+msg)
	}
	in.Problems, out.Problems = problems, problems
	return []*Row{in, out}
}
