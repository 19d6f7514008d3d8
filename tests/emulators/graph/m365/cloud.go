package m365

import "fmt"

// cloudInfo is what a national cloud changes in the identifiers the emulator
// issues: the token issuers and the discovery document's cloud names. The
// Graph resource of tokens (aud, scopes) stays https://graph.microsoft.com,
// which is what the bridge asks for when pointed at custom (emulator) hosts.
type cloudInfo struct {
	name, issuerV1Host, issuerV2Host, instanceName, msgraphHost, aadGraphHost string
}

// Issuer hosts per cloud: v1.0 tokens are issued by sts.windows.net in the
// global and US Government clouds and by sts.chinacloudapi.cn in China; v2.0
// tokens by the cloud's login host, login.partner.microsoftonline.cn in China
// (Microsoft Q&A 1190472, "token issuers for the sovereign clouds").
var clouds = map[string]cloudInfo{
	"global":   {"global", "sts.windows.net", "login.microsoftonline.com", "microsoftonline.com", "graph.microsoft.com", "graph.windows.net"},
	"usgov":    {"usgov", "sts.windows.net", "login.microsoftonline.us", "microsoftonline.us", "graph.microsoft.us", "graph.windows.net"},
	"usgovdod": {"usgovdod", "sts.windows.net", "login.microsoftonline.us", "microsoftonline.us", "dod-graph.microsoft.us", "graph.windows.net"},
	"china":    {"china", "sts.chinacloudapi.cn", "login.partner.microsoftonline.cn", "partner.microsoftonline.cn", "microsoftgraph.chinacloudapi.cn", "graph.chinacloudapi.cn"},
}

func cloudByName(name string) (cloudInfo, error) {
	if name == "" {
		name = "global"
	}
	c, ok := clouds[name]
	if !ok {
		return cloudInfo{}, fmt.Errorf("cloud %q: want global, usgov, usgovdod or china", name)
	}
	return c, nil
}
