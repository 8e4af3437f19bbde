// helm-render renders a Helm chart offline, the way `helm template` does, for
// machines where Helm itself cannot be installed. It is built from Debian's Go
// packages in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helm-render ./scripts/helm-render
//
// What it reproduces from Helm 3 (and why it matters for a chart):
//   - Go text/template with the sprig function map minus env/expandenv, plus
//     Helm's include, tpl, required, fail, toYaml, fromYaml, fromYamlArray,
//     toJson, fromJson, fromJsonArray and lookup (always empty, as in
//     `helm template`), with missingkey=zero and "<no value>" erased.
//   - Values read through sigs.k8s.io/yaml, i.e. through JSON: every number
//     is a float64, so `{{ .Values.n }}` with n: 1000000 prints 1e+06 exactly
//     as Helm does. A renderer that kept integers would hide that chart bug.
//   - -f files deep-merged in order, then coalesced onto values.yaml; a null
//     in a user file deletes the chart default.
//   - toYaml through sigs.k8s.io/yaml (JSON first, so map keys are sorted and
//     strings such as "y" or "1.0" are quoted) with the trailing newline cut.
//   - .Values, .Release (Name, Namespace, Revision, Service "Helm", IsInstall,
//     IsUpgrade), .Chart (Chart.yaml metadata), .Capabilities (KubeVersion,
//     APIVersions.Has, HelmVersion), .Template (Name, BasePath).
//   - The chart's kubeVersion constraint checked against --kube-version.
//   - Every rendered document parsed as YAML (Helm fails on a parse error),
//     documents sorted in Helm's install order, each under a
//     "# Source: <chart>/templates/<file>" comment; NOTES.txt and partials
//     (files starting with "_") are not part of the manifest stream.
//
// What it does not do: subcharts and dependencies, .Files beyond .Files.Get, --set, toToml,
// hooks, values.schema.json validation (tests/scripts/helm_chart_test.sh validates
// the merged values written by --values-out with python3-jsonschema).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Metadata is the part of Chart.yaml templates read as .Chart (Helm's
// chart.Metadata; field names are the ones templates use).
type Metadata struct {
	APIVersion  string            `json:"apiVersion"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion,omitempty"`
	KubeVersion string            `json:"kubeVersion,omitempty"`
	Description string            `json:"description,omitempty"`
	Type        string            `json:"type,omitempty"`
	Home        string            `json:"home,omitempty"`
	Icon        string            `json:"icon,omitempty"`
	Sources     []string          `json:"sources,omitempty"`
	Keywords    []string          `json:"keywords,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Deprecated  bool              `json:"deprecated,omitempty"`
	Maintainers []struct {
		Name  string `json:"name,omitempty"`
		Email string `json:"email,omitempty"`
		URL   string `json:"url,omitempty"`
	} `json:"maintainers,omitempty"`
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string // "v1.32.2"
	Major   string
	Minor   string
}

// String returns the version as "v1.32.2", like Helm's KubeVersion.
func (k KubeVersion) String() string { return k.Version }

// GitVersion is the deprecated alias Helm still provides.
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has reports whether "group/version" (or "group/version/Kind") is available.
// For the Kind form only the group/version is checked: the offline renderer
// has no discovery data per kind.
func (v VersionSet) Has(apiVersion string) bool {
	parts := strings.Split(apiVersion, "/")
	if len(parts) == 3 || (len(parts) == 2 && parts[0] == "v1") {
		apiVersion = strings.Join(parts[:len(parts)-1], "/")
	}
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// HelmVersion is .Capabilities.HelmVersion.
type HelmVersion struct {
	Version   string
	GoVersion string
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion HelmVersion
}

// defaultAPIVersions are the built-in group/versions of Kubernetes 1.32 (what
// `helm template` assumes without a cluster).
var defaultAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1", "apps/v1", "authentication.k8s.io/v1",
	"authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1",
	"certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1", "networking.k8s.io/v1",
	"node.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
	"scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

// installOrder is Helm's InstallOrder: kinds not listed sort after these,
// alphabetically among themselves.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
	"RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
	"StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

// recursionLimit bounds nested include calls of one name, as Helm does.
const recursionLimit = 1000

// readYAMLMap reads a YAML file into a JSON-typed map (numbers are float64).
// An empty file gives an empty map.
func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return out, nil
}

// mergeMaps merges b onto a (b wins; nested maps merge), as Helm merges the
// -f files among themselves. Neither input is modified.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]interface{}); ok {
			if am, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays the user values onto the chart defaults, as Helm's
// CoalesceValues: user values win, nested maps merge, and a user null
// deletes the default.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(user))
	for k, v := range user {
		out[k] = v
	}
	for k, dv := range defaults {
		uv, present := out[k]
		switch {
		case !present:
			out[k] = dv
		case uv == nil:
			delete(out, k)
		default:
			um, uok := uv.(map[string]interface{})
			dm, dok := dv.(map[string]interface{})
			if uok && dok {
				out[k] = coalesce(um, dm)
			} else if uok != dok && dv != nil {
				fmt.Fprintf(os.Stderr, "warning: cannot overwrite table with non table for %s (%v)\n", k, uv)
			}
		}
	}
	return out
}

// toYAML renders v like Helm's toYaml: through JSON and YAML, no trailing newline.
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

// fromYAML parses a YAML mapping; on error the map holds "Error", as in Helm.
func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// fromYAMLArray parses a YAML list; on error the list holds the error text.
func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// toJSON renders v as compact JSON, "" on error.
func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

// fromJSON parses a JSON object; on error the map holds "Error".
func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// fromJSONArray parses a JSON list; on error the list holds the error text.
func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// required returns val, or an error with msg when val is nil or "".
func required(msg string, val interface{}) (interface{}, error) {
	if val == nil {
		return val, errors.New(msg)
	}
	if s, ok := val.(string); ok && s == "" {
		return val, errors.New(msg)
	}
	return val, nil
}

// engine holds one chart's parsed templates.
type engine struct {
	root     *template.Template
	included map[string]int
}

// includeFunc returns Helm's include bound to template set t.
func (e *engine) includeFunc(t *template.Template) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if e.included[name] > recursionLimit {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		e.included[name]++
		defer func() { e.included[name]-- }()
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
}

// tplFunc returns Helm's tpl bound to template set t: the text is parsed in
// a clone of the set under the calling template's name and executed with vals.
func (e *engine) tplFunc(t *template.Template) func(string, map[string]interface{}) (string, error) {
	return func(text string, vals map[string]interface{}) (string, error) {
		name := "tpl"
		if tm, ok := vals["Template"].(map[string]interface{}); ok {
			if n, ok := tm["Name"].(string); ok {
				name = n
			}
		}
		clone, err := t.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %v", err)
		}
		clone.Option("missingkey=zero")
		clone.Funcs(template.FuncMap{"include": e.includeFunc(clone), "tpl": e.tplFunc(clone)})
		if _, err := clone.New(name).Parse(text); err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf strings.Builder
		if err := clone.ExecuteTemplate(&buf, name, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// funcMap is sprig plus Helm's functions; include and tpl are placeholders
// until the set exists.
func (e *engine) funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["required"] = required
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = func(string, interface{}) string { return "not implemented" }
	f["tpl"] = func(string, interface{}) string { return "not implemented" }
	return f
}

// templateFile is one file of templates/, named as Helm names it.
type templateFile struct {
	name string // "<chart>/templates/<relative path>"
	text string
}

// loadTemplates reads every file under dir/templates.
func loadTemplates(dir, chartName string) ([]templateFile, error) {
	var files []templateFile
	base := filepath.Join(dir, "templates")
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, templateFile{path.Join(chartName, "templates", filepath.ToSlash(rel)), string(data)})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, err
}

// isPartial reports whether a template file is only a source of definitions.
func isPartial(name string) bool { return strings.HasPrefix(path.Base(name), "_") }

// isNotes reports whether the file is the chart's NOTES.txt.
func isNotes(name string) bool { return strings.HasSuffix(name, "/NOTES.txt") }

// manifest is one rendered YAML document.
type manifest struct {
	source  string
	content string
	kind    string
}

// kindRank orders kinds as Helm installs them.
func kindRank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

// docSeparator splits a template's output into YAML documents (Helm's pattern).
var docSeparator = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

// splitManifests splits one template's output into non-empty documents and
// parses each (Helm fails the render on a YAML error).
func splitManifests(source, out string) ([]manifest, error) {
	var docs []manifest
	for _, part := range docSeparator.Split(out, -1) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		var any interface{}
		if err := yaml.Unmarshal([]byte(part), &any); err != nil {
			return nil, fmt.Errorf("YAML parse error on %s: %v", source, err)
		}
		if any == nil {
			continue // only comments
		}
		if err := yaml.Unmarshal([]byte(part), &head); err != nil {
			return nil, fmt.Errorf("YAML parse error on %s: %v", source, err)
		}
		docs = append(docs, manifest{source: source, content: part, kind: head.Kind})
	}
	return docs, nil
}

// options are the command-line settings.
type options struct {
	chartDir    string
	valueFiles  stringList
	apiVersions stringList
	release     string
	namespace   string
	kubeVersion string
	output      string
	valuesOut   string
	notesOut    string
	upgrade     bool
}

// parseKubeVersion splits "v1.32.2" into .Capabilities.KubeVersion.
func parseKubeVersion(s string) (KubeVersion, error) {
	v, err := semver.NewVersion(s)
	if err != nil {
		return KubeVersion{}, fmt.Errorf("--kube-version %q: %v", s, err)
	}
	return KubeVersion{
		Version: "v" + v.String(),
		Major:   fmt.Sprint(v.Major()),
		Minor:   fmt.Sprint(v.Minor()),
	}, nil
}

// Files is .Files: the chart's files outside templates/, read as Helm reads
// them (Get returns "" for a missing file; the content is not rendered).
type Files map[string]string

// Get returns the content of the chart file at name (a path relative to the
// chart directory).
func (f Files) Get(name string) string { return f[name] }

// loadFiles reads every chart file except Chart.yaml, values.yaml and
// templates/ (what Helm exposes as .Files, without .helmignore patterns).
func loadFiles(chartDir string) (Files, error) {
	files := Files{}
	err := filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "templates" {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "Chart.yaml" || rel == "values.yaml" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[rel] = string(b)
		return nil
	})
	return files, err
}

// render renders the chart and returns the manifest stream and NOTES.txt.
func render(o options) (string, string, map[string]interface{}, error) {
	var meta Metadata
	chartYAML, err := os.ReadFile(filepath.Join(o.chartDir, "Chart.yaml"))
	if err != nil {
		return "", "", nil, err
	}
	if err := yaml.Unmarshal(chartYAML, &meta); err != nil {
		return "", "", nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		return "", "", nil, errors.New("Chart.yaml: apiVersion v2, name and version are required")
	}
	if _, err := semver.NewVersion(meta.Version); err != nil {
		return "", "", nil, fmt.Errorf("Chart.yaml: version %q is not SemVer 2", meta.Version)
	}
	kube, err := parseKubeVersion(o.kubeVersion)
	if err != nil {
		return "", "", nil, err
	}
	if meta.KubeVersion != "" {
		c, err := semver.NewConstraint(meta.KubeVersion)
		if err != nil {
			return "", "", nil, fmt.Errorf("Chart.yaml: kubeVersion: %v", err)
		}
		v, _ := semver.NewVersion(kube.Version)
		if !c.Check(v) {
			return "", "", nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", meta.KubeVersion, kube.Version)
		}
	}

	defaults, err := readYAMLMap(filepath.Join(o.chartDir, "values.yaml"))
	if err != nil {
		return "", "", nil, err
	}
	user := map[string]interface{}{}
	for _, f := range o.valueFiles {
		m, err := readYAMLMap(f)
		if err != nil {
			return "", "", nil, err
		}
		user = mergeMaps(user, m)
	}
	values := coalesce(user, defaults)

	caps := &Capabilities{
		KubeVersion: kube,
		APIVersions: append(VersionSet{}, append(defaultAPIVersions, o.apiVersions...)...),
		HelmVersion: HelmVersion{Version: "v3 (helm-render)", GoVersion: "go"},
	}
	release := map[string]interface{}{
		"Name": o.release, "Namespace": o.namespace, "Revision": 1,
		"Service": "Helm", "IsInstall": !o.upgrade, "IsUpgrade": o.upgrade,
	}

	files, err := loadTemplates(o.chartDir, meta.Name)
	if err != nil {
		return "", "", values, err
	}
	chartFiles, err := loadFiles(o.chartDir)
	if err != nil {
		return "", "", values, err
	}
	e := &engine{included: map[string]int{}}
	e.root = template.New("gotpl").Option("missingkey=zero").Funcs(e.funcMap())
	for _, f := range files {
		if _, err := e.root.New(f.name).Parse(f.text); err != nil {
			return "", "", values, err
		}
	}
	e.root.Funcs(template.FuncMap{"include": e.includeFunc(e.root), "tpl": e.tplFunc(e.root)})

	var manifests []manifest
	notes := ""
	for _, f := range files {
		if isPartial(f.name) {
			continue
		}
		data := map[string]interface{}{
			"Values": values, "Release": release, "Chart": &meta, "Capabilities": caps,
			"Files": chartFiles, "Subcharts": map[string]interface{}{},
			"Template": map[string]interface{}{
				"Name": f.name, "BasePath": path.Join(meta.Name, "templates"),
			},
		}
		var buf bytes.Buffer
		if err := e.root.ExecuteTemplate(&buf, f.name, data); err != nil {
			return "", "", values, err
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if isNotes(f.name) {
			notes = out
			continue
		}
		docs, err := splitManifests(f.name, out)
		if err != nil {
			return "", "", values, err
		}
		manifests = append(manifests, docs...)
	}
	sort.SliceStable(manifests, func(i, j int) bool {
		ri, rj := kindRank(manifests[i].kind), kindRank(manifests[j].kind)
		if ri != rj {
			return ri < rj
		}
		if ri == len(installOrder) {
			return manifests[i].kind < manifests[j].kind
		}
		return false
	})
	var stream strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&stream, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	return stream.String(), notes, values, nil
}

// writeOut writes data to file, or to stdout when file is "" or "-".
func writeOut(file, data string) error {
	if file == "" || file == "-" {
		_, err := os.Stdout.WriteString(data)
		return err
	}
	return os.WriteFile(file, []byte(data), 0o644)
}

func main() {
	var o options
	flag.Var(&o.valueFiles, "f", "values file to merge (repeatable; later files win)")
	flag.Var(&o.apiVersions, "api-versions", "extra group/version for .Capabilities.APIVersions (repeatable)")
	flag.StringVar(&o.release, "name", "popguard", "release name")
	flag.StringVar(&o.namespace, "namespace", "default", "release namespace")
	flag.StringVar(&o.kubeVersion, "kube-version", "v1.32.2", "Kubernetes version for .Capabilities")
	flag.StringVar(&o.output, "o", "", "write the manifests here (default stdout)")
	flag.StringVar(&o.valuesOut, "values-out", "", "write the merged values here as JSON")
	flag.StringVar(&o.notesOut, "notes-out", "", "write the rendered NOTES.txt here")
	flag.BoolVar(&o.upgrade, "is-upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-f values.yaml ...] [--name R] [--namespace NS] [-o out.yaml] CHART_DIR")
		flag.PrintDefaults()
	}
	// Like helm, accept flags before and after the chart directory.
	var positional []string
	args := os.Args[1:]
	for {
		if err := flag.CommandLine.Parse(args); err != nil {
			os.Exit(2)
		}
		if flag.NArg() == 0 {
			break
		}
		positional = append(positional, flag.Arg(0))
		args = flag.Args()[1:]
	}
	if len(positional) != 1 {
		flag.Usage()
		os.Exit(2)
	}
	o.chartDir = positional[0]
	stream, notes, values, err := render(o)
	// The merged values are written even when rendering fails, so a schema
	// check can still say which value is wrong.
	if o.valuesOut != "" && values != nil {
		data, _ := json.MarshalIndent(values, "", "  ")
		if err := writeOut(o.valuesOut, string(data)+"\n"); err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	if o.notesOut != "" {
		if err := writeOut(o.notesOut, notes); err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
	}
	if err := writeOut(o.output, stream); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
