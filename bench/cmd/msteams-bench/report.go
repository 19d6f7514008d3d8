package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// row is one line of the summary: a value per phase, formatted, and whether a last/first ratio makes sense.
type row struct {
	name  string
	vals  []float64
	text  []string // overrides the formatted value when set
	ratio bool
	fmtf  string
}

func fmtVal(f string, v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf(f, v)
}

// table collects the summary's rows, one value per phase.
type table struct {
	ph   []*Phase
	rows []row
}

func (t *table) add(name, f string, ratio bool, get func(p *Phase) float64) {
	r := row{name: name, fmtf: f, ratio: ratio}
	for _, p := range t.ph {
		r.vals = append(r.vals, get(p))
	}
	t.rows = append(t.rows, r)
}

func (t *table) addText(name string, get func(p *Phase) string) {
	r := row{name: name}
	for _, p := range t.ph {
		r.text = append(r.text, get(p))
	}
	t.rows = append(t.rows, r)
}

// markdownSummary is the table printed at the end: one column per phase (rate), and last/first when there are two
// or more.
func markdownSummary(rep *Report) string {
	ph := rep.Phases
	if len(ph) == 0 {
		return "no phase ran\n"
	}
	t := &table{ph: ph}
	add, addText := t.add, t.addText
	add("offered (msg/s, measured at the control API)", "%.2f", true, func(p *Phase) float64 { return p.OfferedPerSec })
	addText("sent / delivered / lost / duplicates / out of order", func(p *Phase) string {
		return fmt.Sprintf("%d / %d / %d / %d / %d", p.Sent, p.Delivered, p.Lost, p.Duplicates, p.OrderViolations)
	})
	add("**delivered msg/s (end to end)**", "%.2f", true, func(p *Phase) float64 { return p.DeliveredPerSec })
	add("last post after the last send (s)", "%.2f", false, func(p *Phase) float64 { return p.DrainS })
	add("message → post latency p50 (ms)", "%.0f", true, func(p *Phase) float64 { return p.PostLatencyMs.P50 })
	add("message → post latency p99 (ms)", "%.0f", true, func(p *Phase) float64 { return p.PostLatencyMs.P99 })
	add("message → post latency max (ms)", "%.0f", true, func(p *Phase) float64 { return p.PostLatencyMs.Max })
	add("message → websocket event p50 (ms)", "%.0f", true, func(p *Phase) float64 { return p.SeenLatencyMs.P50 })
	add("webhook ack p50 (ms)", "%.0f", true, func(p *Phase) float64 { return p.Webhooks.AckMs.P50 })
	add("webhook ack p99 (ms)", "%.0f", true, func(p *Phase) float64 { return p.Webhooks.AckMs.P99 })
	addText("webhook batches / items / failed", func(p *Phase) string {
		return fmt.Sprintf("%d / %d / %d", p.Webhooks.Batches, p.Webhooks.Items, p.Webhooks.Failed)
	})
	add("**Graph+login requests per delivered message**", "%.2f", true, func(p *Phase) float64 { return p.Graph.PerMessage })
	add("Graph+login requests (total)", "%.0f", true, func(p *Phase) float64 { return float64(p.Graph.Total) })
	t.graphRows("per message")
	t.costRows()

	var b strings.Builder
	fmt.Fprintf(&b, "\n### msteams-bench %s — %d chats, %s per rate, Graph throttling on (Mattermost %s)\n\n",
		rep.Scenario, rep.Config.Chats, fmtDuration(rep.Config.DurationS), strings.SplitN(rep.MMVersion, ".msteams", 2)[0])
	t.write(&b, len(ph) >= 2)
	writeProblems(&b, ph)
	verdict := "OK: no message lost or duplicated"
	if !rep.OK {
		verdict = "FAILED: messages lost or duplicated"
	}
	fmt.Fprintf(&b, "\n%s (setup %.1fs: %v)\n", verdict, rep.SetupS, rep.Setup)
	return b.String()
}

// graphRows adds a row per request kind (in the order of the first phase's counts, then any only later phases
// have), labelled "<label>: <kind>", then the 429s.
func (t *table) graphRows(label string) {
	ph := t.ph
	var kinds []string
	have := map[string]bool{}
	for _, p := range ph {
		for _, kc := range p.Graph.ByKind {
			if !have[kc.Kind] {
				have[kc.Kind] = true
				kinds = append(kinds, kc.Kind)
			}
		}
	}
	for _, kind := range kinds {
		kind := kind
		r := row{name: "  " + label + ": " + kind, ratio: true, fmtf: "%.2f"}
		for _, p := range ph {
			v, n, n429 := 0.0, int64(0), int64(0)
			for _, kc := range p.Graph.ByKind {
				if kc.Kind == kind {
					v, n, n429 = kc.PerMessage, kc.Count, kc.Status429
				}
			}
			r.vals = append(r.vals, v)
			s := fmt.Sprintf("%.2f (%d", v, n)
			if n429 > 0 {
				s += fmt.Sprintf(", %d × 429", n429)
			}
			r.text = append(r.text, s+")")
		}
		t.rows = append(t.rows, r)
	}
	t.add("429 responses", "%.0f", true, func(p *Phase) float64 { return float64(p.Graph.Status429) })
	t.addText("429s by limit", func(p *Phase) string {
		if len(p.Graph.Throttled) == 0 {
			return "none"
		}
		var parts []string
		for name, n := range p.Graph.Throttled {
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	})
}

// costRows adds the core's RSS and the plugin's counters.
func (t *table) costRows() {
	t.add("core RSS at start (MiB)", "%.1f", true, func(p *Phase) float64 { return float64(p.CoreRSS.StartKB) / 1024 })
	t.add("core RSS peak (MiB, 200 ms samples)", "%.1f", true, func(p *Phase) float64 { return float64(p.CoreRSS.PeakKB) / 1024 })
	t.addText("plugin counters (change)", func(p *Phase) string {
		var parts []string
		for name, n := range p.PluginStats {
			parts = append(parts, fmt.Sprintf("%s %+d", name, n))
		}
		sort.Strings(parts)
		if len(parts) == 0 {
			return "no change"
		}
		return strings.Join(parts, "<br>")
	})
}

// write prints the rows as a Markdown table, with a last ÷ first column when ratio.
func (t *table) write(b *strings.Builder, ratio bool) {
	ph := t.ph
	b.WriteString("| |")
	for _, p := range ph {
		fmt.Fprintf(b, " %s |", p.Name)
	}
	if ratio {
		fmt.Fprintf(b, " %s ÷ %s |", ph[len(ph)-1].Name, ph[0].Name)
	}
	b.WriteString("\n|---|")
	for range ph {
		b.WriteString("---|")
	}
	if ratio {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		fmt.Fprintf(b, "| %s |", r.name)
		for i := range ph {
			if r.text != nil {
				fmt.Fprintf(b, " %s |", r.text[i])
			} else {
				fmt.Fprintf(b, " %s |", fmtVal(r.fmtf, r.vals[i]))
			}
		}
		if ratio {
			first, last := 0.0, 0.0
			if r.vals != nil {
				first, last = r.vals[0], r.vals[len(r.vals)-1]
			}
			if r.ratio && first != 0 {
				fmt.Fprintf(b, " %.2f× |", last/first)
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
}

func writeProblems(b *strings.Builder, ph []*Phase) {
	for _, p := range ph {
		for _, pr := range p.Problems {
			fmt.Fprintf(b, "\n- %s: %s", p.Name, pr)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(b, "\n- %s (note): %s", p.Name, n)
		}
	}
}

func fmtDuration(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0fs", s)
	}
	return fmt.Sprintf("%gs", s)
}

// outboundSummary is the outbound scenario's table: one column per phase (the burst, then each steady rate).
func outboundSummary(rep *Report) string {
	ph := rep.Phases
	if len(ph) == 0 {
		return "no phase ran\n"
	}
	o := func(p *Phase) *OutboundFigures {
		if p.Outbound == nil {
			return &OutboundFigures{}
		}
		return p.Outbound
	}
	t := &table{ph: ph}
	t.add("DMs (Teams one-on-one chats)", "%.0f", false, func(p *Phase) float64 { return float64(p.Chats) })
	t.addText("posted in Mattermost / in Teams / lost / duplicates / out of order", func(p *Phase) string {
		return fmt.Sprintf("%d / %d / %d / %d / %d", p.Sent, p.Delivered, p.Lost, p.Duplicates, p.OrderViolations)
	})
	t.addText("Mattermost posts of the phase / appearing twice (echo back)", func(p *Phase) string {
		return fmt.Sprintf("%d / %d", o(p).MattermostPosts, o(p).MattermostDuplicates)
	})
	t.add("Teams messages not from the author's account", "%.0f", false, func(p *Phase) float64 { return float64(o(p).WrongAuthor) })
	t.add("offered posts/s (Mattermost, measured)", "%.2f", false, func(p *Phase) float64 { return p.OfferedPerSec })
	t.add("posting window (s)", "%.2f", false, func(p *Phase) float64 { return p.SendWindowS })
	t.add("**achieved posts/s, per chat (busiest)**", "%.2f", false, func(p *Phase) float64 { return o(p).ChatRateMax })
	t.add("achieved posts/s, per chat (mean)", "%.2f", false, func(p *Phase) float64 { return o(p).ChatRateMean })
	t.add("**achieved posts/s, tenant**", "%.2f", false, func(p *Phase) float64 { return o(p).TenantRate })
	t.addText("Graph post budget: per chat / tenant", func(p *Phase) string {
		return fmt.Sprintf("%g/s / %g/s", o(p).ChatBudget, o(p).TenantBudget)
	})
	t.addText("**share of the Graph post budget used**", func(p *Phase) string {
		return fmt.Sprintf("%.2f %s", o(p).BudgetShare, o(p).BudgetBasis)
	})
	t.addText("share per chat (busiest) / per tenant", func(p *Phase) string {
		return fmt.Sprintf("%.2f / %.2f", o(p).ChatBudgetShare, o(p).TenantBudgetShare)
	})
	t.add("posts/s end to end (first post → last Teams message)", "%.2f", false, func(p *Phase) float64 { return p.DeliveredPerSec })
	t.addText("last Teams message after the last post (s) / floor at the budget", func(p *Phase) string {
		return fmt.Sprintf("%.1f / %.0f", p.DrainS, o(p).ExpectedDrainS)
	})
	t.add("**queue delay p50 (ms)** (post CreateAt → Teams createdDateTime)", "%.0f", false, func(p *Phase) float64 { return o(p).QueueDelayMs.P50 })
	t.add("queue delay p90 (ms)", "%.0f", false, func(p *Phase) float64 { return o(p).QueueDelayMs.P90 })
	t.add("**queue delay p99 (ms)**", "%.0f", false, func(p *Phase) float64 { return o(p).QueueDelayMs.P99 })
	t.add("queue delay max (ms)", "%.0f", false, func(p *Phase) float64 { return o(p).QueueDelayMs.Max })
	t.add("Mattermost create-post call p50 (ms)", "%.0f", false, func(p *Phase) float64 { return p.SendCallMs.P50 })
	t.add("Mattermost create-post call p99 (ms)", "%.0f", false, func(p *Phase) float64 { return p.SendCallMs.P99 })
	t.addText("Graph POST message: requests / 429s", func(p *Phase) string {
		return fmt.Sprintf("%d / %d", o(p).GraphPosts, o(p).GraphPosts429)
	})
	t.addText("echo notifications: batches / items / failed; ack p50 ms", func(p *Phase) string {
		return fmt.Sprintf("%d / %d / %d; %.0f", p.Webhooks.Batches, p.Webhooks.Items, p.Webhooks.Failed, p.Webhooks.AckMs.P50)
	})
	t.add("**Graph+login requests per sent post**", "%.2f", false, func(p *Phase) float64 { return p.Graph.PerMessage })
	t.add("Graph+login requests (total)", "%.0f", false, func(p *Phase) float64 { return float64(p.Graph.Total) })
	t.graphRows("per post")
	t.costRows()

	var b strings.Builder
	fmt.Fprintf(&b, "\n### msteams-bench outbound — burst of %d into one DM, then %d DMs for %s per rate, Graph throttling on (Mattermost %s)\n\n",
		rep.Config.Burst, rep.Config.Chats, fmtDuration(rep.Config.DurationS), strings.SplitN(rep.MMVersion, ".msteams", 2)[0])
	t.write(&b, false)
	writeProblems(&b, ph)
	verdict := "OK: every post in Teams once, in order, as its author; no echo came back"
	if !rep.OK {
		verdict = "FAILED: posts lost, duplicated, out of order or echoed back"
	}
	fmt.Fprintf(&b, "\n%s (setup %.1fs: %v)\n", verdict, rep.SetupS, rep.Setup)
	return b.String()
}
