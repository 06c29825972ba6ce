package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestAPIDocCoversOpenAPI fails on a route of api/openapi.json that docs/api.md does not list
// as "`METHOD /path`".
func TestAPIDocCoversOpenAPI(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			n++
			want := "`" + strings.ToUpper(method) + " " + path + "`"
			if !strings.Contains(string(md), want) {
				t.Errorf("docs/api.md does not document %s (api/openapi.json has it)", want)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d operations in openapi.json", n)
	}
}

// TestConfigDocCoversExample fails on a key of testdata/multimail.example.toml (which a test
// holds to the code) that docs/configuration.md does not list as "`section.key`".
func TestConfigDocCoversExample(t *testing.T) {
	t.Parallel()
	var v map[string]any
	md, err := toml.DecodeFile("../../testdata/multimail.example.toml", &v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range md.Keys() {
		if len(k) == 1 {
			if _, table := v[k[0]].(map[string]any); table {
				continue
			}
			if _, tables := v[k[0]].([]map[string]any); tables {
				continue
			}
		}
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	if len(keys) < 40 {
		t.Fatalf("only %d keys in the example: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not describe `%s` (testdata/multimail.example.toml has it)", k)
		}
	}
}
