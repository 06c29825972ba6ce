package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary text to the config loader: it must load or refuse with a
// *ConfigError naming the file, never panic. The seeds (the example config and a few broken
// ones) run as an ordinary test.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../../testdata/multimail.example.toml"); err == nil {
		f.Add(string(b))
	}
	f.Add("hostname = \"x\"\n[listen]\nsmtpp = \"1\"\n")
	f.Add("[limits]\nmemory = \"0GiB\"\n")
	f.Add("[[mailbox]]\naddress = 1\n")
	f.Add("[delivery]\nmin_backoff = \"-1s\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, err := parseConfig("fuzz.toml", []byte(src))
		if err != nil && !strings.Contains(err.Error(), "fuzz.toml") {
			t.Fatalf("error without the file name: %v", err)
		}
	})
}
