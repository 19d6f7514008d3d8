// The planner scenario: the core's memory with many connected users in the subscription planner's state. The
// bridge runs in hybrid mode; -chats N connected accounts (with activity) are written straight into its tables (an
// unlicensed Mattermost refuses more than a few hundred users, and only the core's state is measured), and the core's
// RSS is sampled while its leader plans over them for two subscription passes.
package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

type plannerScenario struct{}

func newPlanner() scenario {
	p := plannerScenario{}
	return scenario{setup: p.setup, plan: p.phases, run: p.run, summary: plannerSummary,
		failed: func(p *Phase) bool { return p.CoreRSS.Samples == 0 }}
}

func (plannerScenario) setup(context.Context, *Env) (map[string]any, error) {
	return map[string]any{}, nil
}

func (plannerScenario) phases(cfg Config) []phaseSpec {
	return []phaseSpec{{Name: fmt.Sprintf("%d connected users", cfg.Chats), Kind: "planner"}}
}

func (plannerScenario) run(ctx context.Context, env *Env, spec phaseSpec) (*Phase, error) {
	b, n := env.Bridge, env.Cfg.Chats
	p := &Phase{Chats: n}
	base, err := startPhase(ctx, b)
	if err != nil {
		return nil, err
	}
	defer base.stopRSS()
	// Teams ids the emulator does not know: the planner's picks fail to subscribe (logged), which does not change
	// what the core holds.
	sql := fmt.Sprintf(`INSERT INTO msteams_accounts (mm_user_id, teams_user_id, teams_email, teams_display_name,
  token_sealed, connected_at) SELECT 'plannerbench' || lpad(g::text, 14, '0'),
  '00000000-0000-4000-8000-' || lpad(g::text, 12, '0'), 'u' || g || '@contoso.example', 'User ' || g, 'sealed',
  1700000000000 + g FROM generate_series(1, %d) g;
INSERT INTO msteams_activity (teams_user_id, activity, activity_at) SELECT
  '00000000-0000-4000-8000-' || lpad(g::text, 12, '0'), 1 + (g %% 97), 1700000000000 FROM generate_series(1, %d) g;`, n, n)
	if out, err := exec.CommandContext(ctx, "psql", b.MM.DataSource, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("writing %d accounts: %v: %s", n, err, out)
	}
	settings, err := b.MM.StoredPluginSettings(b.MM.PluginID)
	if err != nil {
		return nil, err
	}
	settings["subscriptionmode"] = "hybrid"
	settings["perusersubscriptionbudget"] = 50
	if err := b.MM.SetPluginSettings(ctx, b.MM.PluginID, settings); err != nil {
		return nil, err
	}
	env.Logf("%d connected users written; the bridge plans in hybrid mode; sampling the core's RSS for 70 s", n)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(70 * time.Second):
	}
	p.CoreRSS = base.stopRSS()
	return p, base.finish(ctx, b, p)
}

func plannerSummary(rep *Report) string {
	var s strings.Builder
	s.WriteString("\n| phase | core RSS start (MiB) | peak (MiB) | end (MiB) | VmHWM (MiB) |\n|---|---|---|---|---|\n")
	for _, p := range rep.Phases {
		r := p.CoreRSS
		fmt.Fprintf(&s, "| %s | %.1f | %.1f | %.1f | %.1f |\n", p.Name, float64(r.StartKB)/1024, float64(r.PeakKB)/1024,
			float64(r.EndKB)/1024, float64(r.HWMKB)/1024)
	}
	return s.String()
}
