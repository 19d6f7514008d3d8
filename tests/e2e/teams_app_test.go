package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
)

// manifestToolOnce installs the validator's npm packages (pinned in teams-manifest/package-lock.json) when `make
// deps` has not.
var manifestToolOnce sync.Once

func manifestTool(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("teams-manifest")
	if err != nil {
		t.Fatal(err)
	}
	manifestToolOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@microsoft", "app-manifest")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// validateManifest runs Microsoft's manifest validation (@microsoft/app-manifest, with the schemas it ships) on
// manifest, and returns its verdict: "valid", or one error a line.
func validateManifest(t *testing.T, manifest []byte) (string, bool) {
	t.Helper()
	dir := manifestTool(t)
	file := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(file, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "validate.mjs", file)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatalf("running the manifest validator: %v", err)
	}
	return strings.TrimSpace(string(out)), err == nil
}

// downloadPackage fetches the Teams app package as `as` would from System Console and opens it.
func (b *bridge) downloadPackage(t *testing.T) (map[string][]byte, *http.Response) {
	t.Helper()
	admin := b.mm.Admin
	resp, err := b.mm.PluginRequest(context.Background(), admin, http.MethodGet, "/admin/teams-app.zip", nil,
		http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("package: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body)
	}
	zr, err := zip.NewReader(bytes.NewReader(resp.Body), int64(len(resp.Body)))
	if err != nil {
		t.Fatalf("the package is not a ZIP archive: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil { // archive/zip checks each file's CRC-32 at its end
			t.Fatalf("%s: %v", f.Name, err)
		}
		r.Close()
		files[f.Name] = buf.Bytes()
	}
	return files, &http.Response{StatusCode: resp.StatusCode, Header: resp.Header}
}

func decodePNG(t *testing.T, name string, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", name, err)
	}
	return img
}

// pngOf encodes a side×side image whose pixels are fill(x, y).
func pngOf(t *testing.T, side int, fill func(x, y int) color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			img.SetNRGBA(x, y, fill(x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTeamsAppPackage: System Console's "Download the Teams app package" against the real server: the package is for
// system admins only, is a ZIP that Microsoft's own manifest validation accepts, names this server and app
// registration, carries Teams' icons (uploaded ones once set), and never the client secret.
func TestTeamsAppPackage(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, nil)
	site, err := url.Parse(b.mm.SiteURL)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a user who is not a system admin is refused", func(t *testing.T) {
		bob := b.user(t, "bob")
		resp, err := b.mm.PluginRequest(ctx, bob, http.MethodGet, "/admin/teams-app.zip", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || bytes.HasPrefix(resp.Body, []byte("PK")) {
			t.Fatalf("package for a non-admin: %d %s", resp.StatusCode, resp.Body)
		}
		resp, err = b.mm.PluginRequest(ctx, nil, http.MethodGet, "/admin/teams-app.zip", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("package without a session: %d", resp.StatusCode)
		}
	})

	t.Run("the package passes Microsoft's manifest validation and names this server", func(t *testing.T) {
		files, resp := b.downloadPackage(t)
		if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="mattermost-1.0.0.zip"` {
			t.Errorf("Content-Disposition: %q", got)
		}
		if len(files) != 3 || files["manifest.json"] == nil || files["color.png"] == nil || files["outline.png"] == nil {
			t.Fatalf("package files: %v", keys(files))
		}
		verdict, ok := validateManifest(t, files["manifest.json"])
		if !ok || verdict != "valid" {
			t.Fatalf("Microsoft's validation refused the manifest:\n%s\n%s", verdict, files["manifest.json"])
		}
		var m struct {
			ID                 string `json:"id"`
			Version            string `json:"version"`
			ValidDomains       []string
			WebApplicationInfo struct{ ID, Resource string }
			StaticTabs         []struct{ ContentURL string }
			Authorization      struct {
				Permissions struct{ ResourceSpecific []struct{ Name, Type string } }
			}
			Activities struct {
				ActivityTypes []struct{ Type, TemplateText string }
			}
		}
		if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
			t.Fatal(err)
		}
		client := strings.ToLower(b.emu.ClientID)
		if m.WebApplicationInfo.ID != client || m.WebApplicationInfo.Resource != "api://"+site.Host+"/"+client {
			t.Errorf("webApplicationInfo: %+v (site %s)", m.WebApplicationInfo, site.Host)
		}
		if len(m.ValidDomains) != 1 || m.ValidDomains[0] != site.Host {
			t.Errorf("validDomains: %q", m.ValidDomains)
		}
		if len(m.StaticTabs) != 1 || m.StaticTabs[0].ContentURL != b.mm.SiteURL+"/plugins/com.mattermost.msteams/tab" {
			t.Errorf("staticTabs: %+v", m.StaticTabs)
		}
		rsc := m.Authorization.Permissions.ResourceSpecific
		if len(rsc) != 1 || rsc[0].Name != "TeamsActivity.Send.User" || rsc[0].Type != "Application" {
			t.Errorf("resource-specific permissions: %+v", rsc)
		}
		// The types the activity feed sends: Graph refuses a notification of a type the installed app does not declare.
		var types []string
		for _, a := range m.Activities.ActivityTypes {
			types = append(types, a.Type)
		}
		if strings.Join(types, ",") != "mention,channelMention,directMessage,groupMessage,threadReply" || m.Version != "1.0.0" {
			t.Errorf("activity types %+v, version %s", m.Activities.ActivityTypes, m.Version)
		}
		// The default icons, as Teams wants them: 192×192 colour; 32×32 white on transparency.
		if c := decodePNG(t, "color.png", files["color.png"]); c.Bounds().Dx() != 192 || c.Bounds().Dy() != 192 {
			t.Errorf("color.png is %v", c.Bounds())
		}
		o := decodePNG(t, "outline.png", files["outline.png"])
		if o.Bounds().Dx() != 32 || o.Bounds().Dy() != 32 {
			t.Errorf("outline.png is %v", o.Bounds())
		}
		drawn := 0
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				c := color.NRGBAModel.Convert(o.At(x, y)).(color.NRGBA)
				if c.A != 0 && (c.R != 255 || c.G != 255 || c.B != 255) {
					t.Fatalf("outline.png has a pixel that is not white at %d,%d: %v", x, y, c)
				}
				if c.A != 0 {
					drawn++
				}
			}
		}
		if drawn == 0 {
			t.Error("outline.png is empty")
		}
		// The same settings make the same package: Teams sees one app, whoever downloads it.
		again, _ := b.downloadPackage(t)
		if !bytes.Equal(again["manifest.json"], files["manifest.json"]) {
			t.Error("a second download has another manifest")
		}
		for name, data := range files {
			if bytes.Contains(data, []byte(b.emu.ClientSecret)) {
				t.Errorf("%s holds the client secret", name)
			}
		}
	})

	t.Run("the validator is not a rubber stamp", func(t *testing.T) {
		files, _ := b.downloadPackage(t)
		var m map[string]any
		if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "developer")
		m["id"] = "not-a-guid"
		broken, _ := json.Marshal(m)
		verdict, ok := validateManifest(t, broken)
		if ok || !strings.Contains(verdict, "developer") || !strings.Contains(verdict, "/id") {
			t.Fatalf("a broken manifest passed or was refused for other reasons: %s", verdict)
		}
	})

	t.Run("the personal tab's page can be framed by Teams, without a Mattermost session", func(t *testing.T) {
		resp, err := b.mm.PluginRequest(ctx, nil, http.MethodGet, "/tab", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(resp.Body), `<script src="public/tab.js">`) {
			t.Fatalf("tab page: %d %s", resp.StatusCode, resp.Body)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'self' https://teams.microsoft.com") {
			t.Errorf("Content-Security-Policy: %q", csp)
		}
		// Mattermost itself must not forbid the frame (it sends X-Frame-Options for its own pages).
		if xfo := resp.Header.Values("X-Frame-Options"); len(xfo) != 0 {
			t.Errorf("X-Frame-Options: %q", xfo)
		}
	})

	t.Run("uploaded icons, name and version are in the next package; wrong icons are refused", func(t *testing.T) {
		settings, err := b.mm.StoredPluginSettings(harness.PluginID)
		if err != nil {
			t.Fatal(err)
		}
		wrong := pngOf(t, 64, func(int, int) color.NRGBA { return color.NRGBA{200, 30, 30, 255} })
		settings["teamsappcoloricon"] = base64.StdEncoding.EncodeToString(wrong)
		err = b.mm.SetPluginSettings(ctx, harness.PluginID, settings)
		if err == nil || !strings.Contains(err.Error(), "must be 192×192 pixels; this one is 64×64") {
			t.Fatalf("a 64×64 colour icon was not refused as such: %v", err)
		}
		delete(settings, "teamsappcoloricon")
		red := pngOf(t, 32, func(x, y int) color.NRGBA {
			if (x-16)*(x-16)+(y-16)*(y-16) < 100 {
				return color.NRGBA{220, 0, 0, 255}
			}
			return color.NRGBA{}
		})
		settings["teamsappoutlineicon"] = base64.StdEncoding.EncodeToString(red)
		err = b.mm.SetPluginSettings(ctx, harness.PluginID, settings)
		if err == nil || !strings.Contains(err.Error(), "must be white on a transparent background") {
			t.Fatalf("a red outline icon was not refused as such: %v", err)
		}
		colour := pngOf(t, 192, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), uint8(y), 180, 255} })
		outline := pngOf(t, 32, func(x, y int) color.NRGBA {
			if (x-16)*(x-16)+(y-16)*(y-16) < 100 {
				return color.NRGBA{255, 255, 255, 255}
			}
			return color.NRGBA{}
		})
		settings["teamsappcoloricon"] = base64.StdEncoding.EncodeToString(colour)
		settings["teamsappoutlineicon"] = base64.StdEncoding.EncodeToString(outline)
		settings["teamsappname"] = "Contoso Chat"
		settings["teamsappversion"] = "1.0.1"
		if err := b.mm.SetPluginSettings(ctx, harness.PluginID, settings); err != nil {
			t.Fatal(err)
		}
		var files map[string][]byte
		var resp *http.Response
		within(t, 30*time.Second, func() string {
			files, resp = b.downloadPackage(t)
			if !bytes.Equal(files["color.png"], colour) {
				return "the package still has the old colour icon"
			}
			return ""
		})
		if !bytes.Equal(files["outline.png"], outline) {
			t.Error("the uploaded outline icon is not in the package")
		}
		if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="contoso-chat-1.0.1.zip"` {
			t.Errorf("Content-Disposition: %q", got)
		}
		verdict, ok := validateManifest(t, files["manifest.json"])
		if !ok {
			t.Fatalf("Microsoft's validation refused the manifest: %s", verdict)
		}
		if !strings.Contains(string(files["manifest.json"]), `"short": "Contoso Chat"`) {
			t.Errorf("the manifest does not carry the name:\n%s", files["manifest.json"])
		}
	})
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
