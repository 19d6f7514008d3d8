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

// markdownSummary is the table printed at the end: one column per phase (rate), and last/first when there are two
// or more.
func markdownSummary(rep *Report) string {
	ph := rep.Phases
	if len(ph) == 0 {
		return "no phase ran\n"
	}
	var rows []row
	add := func(name, f string, ratio bool, get func(p *Phase) float64) {
		r := row{name: name, fmtf: f, ratio: ratio}
		for _, p := range ph {
			r.vals = append(r.vals, get(p))
		}
		rows = append(rows, r)
	}
	addText := func(name string, get func(p *Phase) string) {
		r := row{name: name}
		for _, p := range ph {
			r.text = append(r.text, get(p))
		}
		rows = append(rows, r)
	}
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

	// Request kinds, in the order of the first phase's counts, then any only later phases have.
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
		r := row{name: "  per message: " + kind, ratio: true, fmtf: "%.2f"}
		for _, p := range ph {
			v, n, t := 0.0, int64(0), int64(0)
			for _, kc := range p.Graph.ByKind {
				if kc.Kind == kind {
					v, n, t = kc.PerMessage, kc.Count, kc.Status429
				}
			}
			r.vals = append(r.vals, v)
			s := fmt.Sprintf("%.2f (%d", v, n)
			if t > 0 {
				s += fmt.Sprintf(", %d × 429", t)
			}
			r.text = append(r.text, s+")")
		}
		rows = append(rows, r)
	}
	add("429 responses", "%.0f", true, func(p *Phase) float64 { return float64(p.Graph.Status429) })
	addText("429s by limit", func(p *Phase) string {
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
	add("core RSS at start (MiB)", "%.1f", true, func(p *Phase) float64 { return float64(p.CoreRSS.StartKB) / 1024 })
	add("core RSS peak (MiB, 200 ms samples)", "%.1f", true, func(p *Phase) float64 { return float64(p.CoreRSS.PeakKB) / 1024 })
	addText("plugin counters (change)", func(p *Phase) string {
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

	var b strings.Builder
	fmt.Fprintf(&b, "\n### msteams-bench %s — %d chats, %s per rate, Graph throttling on (Mattermost %s)\n\n",
		rep.Scenario, rep.Config.Chats, fmtDuration(rep.Config.DurationS), strings.SplitN(rep.MMVersion, ".msteams", 2)[0])
	b.WriteString("| |")
	for _, p := range ph {
		fmt.Fprintf(&b, " R=%g/s |", p.Rate)
	}
	ratio := len(ph) >= 2
	if ratio {
		fmt.Fprintf(&b, " R=%g ÷ R=%g |", ph[len(ph)-1].Rate, ph[0].Rate)
	}
	b.WriteString("\n|---|")
	for range ph {
		b.WriteString("---|")
	}
	if ratio {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.name)
		for i := range ph {
			if r.text != nil {
				fmt.Fprintf(&b, " %s |", r.text[i])
			} else {
				fmt.Fprintf(&b, " %s |", fmtVal(r.fmtf, r.vals[i]))
			}
		}
		if ratio {
			first, last := 0.0, 0.0
			if r.vals != nil {
				first, last = r.vals[0], r.vals[len(r.vals)-1]
			}
			if r.ratio && first != 0 {
				fmt.Fprintf(&b, " %.2f× |", last/first)
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	for _, p := range ph {
		for _, pr := range p.Problems {
			fmt.Fprintf(&b, "\n- R=%g: %s", p.Rate, pr)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(&b, "\n- R=%g (note): %s", p.Rate, n)
		}
	}
	verdict := "OK: no message lost or duplicated"
	if !rep.OK {
		verdict = "FAILED: messages lost or duplicated"
	}
	fmt.Fprintf(&b, "\n%s (setup %.1fs: %v)\n", verdict, rep.SetupS, rep.Setup)
	return b.String()
}

func fmtDuration(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0fs", s)
	}
	return fmt.Sprintf("%gs", s)
}
