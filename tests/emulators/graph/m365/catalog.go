package m365

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Teams app catalog of the tenant (apps published to the organization)
// and the apps installed for users, in teams and in chats.

// Package limits: a Teams app package is a small zip (a manifest and two
// icons, maybe localization files).
const (
	MaxAppPackageBytes  = 10 << 20
	maxManifestBytes    = 1 << 20
	maxAppPackageFiles  = 100
	maxCatalogApps      = 1000
	maxInstallsPerScope = 200
)

type rscPermission struct {
	Value string `json:"permissionValue"`
	Type  string `json:"permissionType"` // application, delegated
}

type activityType struct {
	Type, Description, TemplateText string
	Params                          []string // {names} of templateText other than actor
}

type teamsAppDefinition struct {
	ID, TeamsAppID, Version, DisplayName      string
	ShortDescription, Description, ManifestID string
	AzureADAppID, Resource, PublishingState   string
	ManifestVersion                           string
	RSC                                       []rscPermission
	Activities                                []activityType
	Modified                                  time.Time
}

func (d *teamsAppDefinition) activity(t string) *activityType {
	for i := range d.Activities {
		if d.Activities[i].Type == t {
			return &d.Activities[i]
		}
	}
	return nil
}

type teamsApp struct {
	ID, ExternalID, DisplayName, Distribution string
	Def                                       *teamsAppDefinition
}

// appInstall is a teamsAppInstallation in one scope: "user", "team" or "chat".
type appInstall struct {
	ID, Scope, ScopeID, AppID string
	Consented                 []rscPermission
	Created                   time.Time
}

func installID(scopeID, appID string) string {
	return base64.StdEncoding.EncodeToString([]byte(scopeID + "##" + appID))
}

func scopeKey(scope, id string) string { return scope + ":" + id }

// manifestError is one schema error of a package, as Graph lists them.
type manifestError struct{ Code, Message, Target string }

var (
	semverRE     = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	manifestIDRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`)
	httpsRE      = regexp.MustCompile(`^[Hh][Tt][Tt][Pp][Ss]?://`)
	templateRE   = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)
	accentRE     = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// parseAppPackage reads manifest.json from a Teams app package and checks what
// the catalog checks: the required fields, version formats, the icons being in
// the package, webApplicationInfo and the activity types.
func parseAppPackage(pkg []byte) (*teamsAppDefinition, []manifestError) {
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		return nil, []manifestError{{"InvalidAppPackage", "The app package is not a valid zip file.", "package"}}
	}
	if len(zr.File) > maxAppPackageFiles {
		return nil, []manifestError{{"InvalidAppPackage", "The app package has too many files.", "package"}}
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[strings.ToLower(path.Clean(f.Name))] = f
	}
	mf := files["manifest.json"]
	if mf == nil {
		return nil, []manifestError{{"InvalidAppPackage", "manifest.json is missing from the root of the app package.", "manifest.json"}}
	}
	rc, err := mf.Open()
	if err != nil {
		return nil, []manifestError{{"InvalidAppPackage", "manifest.json cannot be read.", "manifest.json"}}
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	rc.Close()
	if err != nil || len(data) > maxManifestBytes {
		return nil, []manifestError{{"InvalidAppPackage", "manifest.json is too large or unreadable.", "manifest.json"}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var m struct {
		ManifestVersion string `json:"manifestVersion"`
		Version         string `json:"version"`
		ID              string `json:"id"`
		Name            struct{ Short, Full string }
		Description     struct{ Short, Full string }
		Developer       struct {
			Name, WebsiteURL, PrivacyURL, TermsOfUseURL string
		}
		Icons              struct{ Color, Outline string }
		AccentColor        string `json:"accentColor"`
		WebApplicationInfo *struct {
			ID       string `json:"id"`
			Resource string `json:"resource"`
		} `json:"webApplicationInfo"`
		Activities *struct {
			ActivityTypes []struct {
				Type, Description, TemplateText string
			} `json:"activityTypes"`
		} `json:"activities"`
		Authorization *struct {
			Permissions struct {
				ResourceSpecific []struct{ Name, Type string } `json:"resourceSpecific"`
			} `json:"permissions"`
		} `json:"authorization"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, []manifestError{{"SchemaError_InvalidJson", "manifest.json is not valid JSON: " + err.Error(), "manifest.json"}}
	}
	var errs []manifestError
	required := func(target, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, manifestError{"SchemaError_Required", "Required properties are missing from object: [].", target})
		}
	}
	required("manifestVersion", m.ManifestVersion)
	required("version", m.Version)
	required("id", m.ID)
	required("name.short", m.Name.Short)
	required("description.short", m.Description.Short)
	required("description.full", m.Description.Full)
	required("developer.name", m.Developer.Name)
	required("developer.websiteUrl", m.Developer.WebsiteURL)
	required("developer.privacyUrl", m.Developer.PrivacyURL)
	required("developer.termsOfUseUrl", m.Developer.TermsOfUseURL)
	required("icons.color", m.Icons.Color)
	required("icons.outline", m.Icons.Outline)
	required("accentColor", m.AccentColor)
	pattern := func(target, v string, re *regexp.Regexp, shown string) {
		if v != "" && !re.MatchString(v) {
			errs = append(errs, manifestError{"SchemaError_Pattern", fmt.Sprintf("String %q does not match regex pattern %q.", v, shown), target})
		}
	}
	pattern("version", m.Version, semverRE, semverRE.String())
	pattern("id", m.ID, manifestIDRE, manifestIDRE.String())
	pattern("accentColor", m.AccentColor, accentRE, accentRE.String())
	for t, u := range map[string]string{"developer.websiteUrl": m.Developer.WebsiteURL, "developer.privacyUrl": m.Developer.PrivacyURL, "developer.termsOfUseUrl": m.Developer.TermsOfUseURL} {
		pattern(t, u, httpsRE, httpsRE.String())
	}
	if len(m.Name.Short) > 30 {
		errs = append(errs, manifestError{"SchemaError_MaxLength", fmt.Sprintf("String %q exceeds maximum length of 30.", m.Name.Short), "name.short"})
	}
	for t, icon := range map[string]string{"icons.color": m.Icons.Color, "icons.outline": m.Icons.Outline} {
		if icon != "" && files[strings.ToLower(path.Clean(icon))] == nil {
			errs = append(errs, manifestError{"IconNotFound", fmt.Sprintf("The icon file %q is not in the app package.", icon), t})
		}
	}
	d := &teamsAppDefinition{Version: m.Version, DisplayName: m.Name.Short, ShortDescription: m.Description.Short,
		Description: m.Description.Full, ManifestID: m.ID, ManifestVersion: m.ManifestVersion, PublishingState: "published"}
	if w := m.WebApplicationInfo; w != nil {
		if !isGUID(w.ID) {
			errs = append(errs, manifestError{"SchemaError_Pattern", fmt.Sprintf("String %q does not match the GUID pattern.", w.ID), "webApplicationInfo.id"})
		}
		d.AzureADAppID, d.Resource = strings.ToLower(w.ID), w.Resource
	}
	if a := m.Activities; a != nil {
		if !manifestAtLeast(m.ManifestVersion, 1, 7) {
			errs = append(errs, manifestError{"SchemaError_AdditionalProperties", "Property 'activities' has not been defined and the schema does not allow additional properties (manifestVersion 1.7 or later needed).", "activities"})
		}
		seen := map[string]bool{}
		for i, at := range a.ActivityTypes {
			target := fmt.Sprintf("activities.activityTypes[%d]", i)
			required(target+".type", at.Type)
			required(target+".description", at.Description)
			required(target+".templateText", at.TemplateText)
			switch {
			case at.Type == "systemDefault":
				errs = append(errs, manifestError{"ReservedActivityType", "The activity type 'systemDefault' is reserved and cannot be declared in the manifest.", target + ".type"})
			case len(at.Type) > 64 || len(at.Description) > 128 || len(at.TemplateText) > 128:
				errs = append(errs, manifestError{"SchemaError_MaxLength", "type exceeds 64 characters, or description or templateText 128.", target})
			case seen[at.Type]:
				errs = append(errs, manifestError{"DuplicateActivityType", fmt.Sprintf("The activity type %q is declared twice.", at.Type), target + ".type"})
			}
			seen[at.Type] = true
			var params []string
			for _, p := range templateRE.FindAllStringSubmatch(at.TemplateText, -1) {
				if p[1] != "actor" && !contains(params, p[1]) {
					params = append(params, p[1])
				}
			}
			d.Activities = append(d.Activities, activityType{at.Type, at.Description, at.TemplateText, params})
		}
	}
	if a := m.Authorization; a != nil {
		for i, p := range a.Permissions.ResourceSpecific {
			t := strings.ToLower(p.Type)
			if p.Name == "" || (t != "application" && t != "delegated") {
				errs = append(errs, manifestError{"SchemaError_Enum", "A resource-specific permission needs a name and a type of Application or Delegated.", fmt.Sprintf("authorization.permissions.resourceSpecific[%d]", i)})
				continue
			}
			d.RSC = append(d.RSC, rscPermission{p.Name, t})
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Target < errs[j].Target })
		return nil, errs
	}
	return d, nil
}

// manifestAtLeast compares a manifestVersion ("1.17", "devPreview") with major.minor.
func manifestAtLeast(v string, major, minor int) bool {
	if v == "devPreview" {
		return true
	}
	ma, mi, ok := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(ma)
	b, err2 := strconv.Atoi(mi)
	if !ok || err1 != nil || err2 != nil {
		return false
	}
	return a > major || (a == major && b >= minor)
}

// publishApp adds a package's app to the catalog; st.mu held.
func (s *store) publishApp(d *teamsAppDefinition, submitted bool) (*teamsApp, error) {
	for _, a := range s.appOrder {
		if strings.EqualFold(a.ExternalID, d.ManifestID) {
			return nil, &storeError{409, "Conflict", fmt.Sprintf("An app with the manifest id '%s' already exists in the tenant app catalog (unverified wording).", d.ManifestID)}
		}
	}
	if len(s.appOrder) >= maxCatalogApps {
		return nil, &storeError{400, "BadRequest", "The tenant app catalog is full."}
	}
	a := &teamsApp{ID: newGUID(), ExternalID: d.ManifestID, DisplayName: d.DisplayName, Distribution: "organization", Def: d}
	d.TeamsAppID = a.ID
	if submitted {
		d.PublishingState = "submitted"
	}
	d.ID = base64.StdEncoding.EncodeToString([]byte(a.ID + "##" + d.Version + "##" + strings.ToUpper(d.PublishingState[:1]) + d.PublishingState[1:]))
	d.Modified = time.Now().UTC()
	s.apps[a.ID] = a
	s.appOrder = append(s.appOrder, a)
	return a, nil
}

// removeApp deletes a catalog app and its installations; st.mu held.
func (s *store) removeApp(id string) bool {
	a := s.apps[id]
	if a == nil {
		return false
	}
	delete(s.apps, id)
	for i, x := range s.appOrder {
		if x == a {
			s.appOrder = append(s.appOrder[:i:i], s.appOrder[i+1:]...)
			break
		}
	}
	for k, list := range s.installs {
		kept := list[:0]
		for _, in := range list {
			if in.AppID != id {
				kept = append(kept, in)
			}
		}
		s.installs[k] = kept
	}
	return true
}

// install installs a catalog app in a scope; st.mu held.
func (s *store) install(scope, scopeID, appID string, consented []rscPermission) (*appInstall, error) {
	a := s.apps[appID]
	if a == nil {
		return nil, &storeError{404, "NotFound", fmt.Sprintf("The app '%s' was not found in the app catalog.", appID)}
	}
	if a.Def.PublishingState != "published" {
		return nil, &storeError{400, "BadRequest", "The app is pending review and cannot be installed yet."}
	}
	key := scopeKey(scope, scopeID)
	for _, in := range s.installs[key] {
		if in.AppID == appID {
			return nil, &storeError{409, "Conflict", "The app is already installed in this scope."}
		}
	}
	if len(s.installs[key]) >= maxInstallsPerScope {
		return nil, &storeError{400, "BadRequest", "Too many apps are installed in this scope."}
	}
	in := &appInstall{ID: installID(scopeID, appID), Scope: scope, ScopeID: scopeID, AppID: appID, Consented: consented, Created: time.Now().UTC()}
	s.installs[key] = append(s.installs[key], in)
	return in, nil
}

func (s *store) uninstall(scope, scopeID, installID string) bool {
	key := scopeKey(scope, scopeID)
	for i, in := range s.installs[key] {
		if in.ID == installID {
			s.installs[key] = append(s.installs[key][:i:i], s.installs[key][i+1:]...)
			return true
		}
	}
	return false
}

// appByKey finds a catalog app by id or manifest (external) id.
func (s *store) appByKey(key string) *teamsApp {
	if a := s.apps[key]; a != nil {
		return a
	}
	for _, a := range s.appOrder {
		if strings.EqualFold(a.ExternalID, key) {
			return a
		}
	}
	return nil
}

// ---- Graph JSON ----

func (e *Emulator) teamsAppJSON(a *teamsApp, withDefs bool) map[string]any {
	m := map[string]any{"id": a.ID, "externalId": a.ExternalID, "displayName": a.DisplayName, "distributionMethod": a.Distribution}
	if withDefs {
		m["appDefinitions"] = []any{teamsAppDefinitionJSON(a.Def)}
	}
	return m
}

func teamsAppDefinitionJSON(d *teamsAppDefinition) map[string]any {
	rsc := []any{}
	for _, p := range d.RSC {
		rsc = append(rsc, map[string]any{"permissionValue": p.Value, "permissionType": p.Type})
	}
	var aad any
	if d.AzureADAppID != "" {
		aad = d.AzureADAppID
	}
	return map[string]any{
		"id": d.ID, "teamsAppId": d.TeamsAppID, "azureADAppId": aad, "displayName": d.DisplayName, "version": d.Version,
		"publishingState": d.PublishingState, "shortDescription": d.ShortDescription, "description": d.Description,
		"lastModifiedDateTime": d.Modified.Format(time.RFC3339), "createdBy": nil,
		"authorization": map[string]any{"clientAppId": aad, "requiredPermissionSet": map[string]any{"resourceSpecificPermissions": rsc}},
	}
}

func (e *Emulator) installJSON(in *appInstall, expand map[string]bool) map[string]any {
	odataType := "#" + installType(in.Scope)
	perms := []any{}
	for _, p := range in.Consented {
		perms = append(perms, map[string]any{"permissionValue": p.Value, "permissionType": p.Type})
	}
	m := map[string]any{"@odata.type": odataType, "id": in.ID, "consentedPermissionSet": map[string]any{"resourceSpecificPermissions": perms}}
	a := e.st.apps[in.AppID]
	if expand["teamsApp"] && a != nil {
		m["teamsApp"] = e.teamsAppJSON(a, false)
	}
	if expand["teamsAppDefinition"] && a != nil {
		m["teamsAppDefinition"] = teamsAppDefinitionJSON(a.Def)
	}
	return m
}
