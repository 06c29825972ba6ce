package mtatest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"
)

// CheckTLSRPT checks a TLS-RPT report against RFC 8460 §4.4's field names and types, by their
// JSON names (not the mta package's types, so a renamed field fails), and returns it decoded.
func CheckTLSRPT(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b)
	}
	for _, k := range []string{"organization-name", "contact-info", "report-id"} {
		if s, _ := r[k].(string); s == "" {
			t.Errorf("report %q missing: %s", k, b)
		}
	}
	dr, _ := r["date-range"].(map[string]any)
	for _, k := range []string{"start-datetime", "end-datetime"} {
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(dr[k])); err != nil {
			t.Errorf("date-range %s: %v", k, err)
		}
	}
	pols, _ := r["policies"].([]any)
	if len(pols) == 0 {
		t.Fatalf("report without policies: %s", b)
	}
	for _, p := range pols {
		pm, _ := p.(map[string]any)
		pol, _ := pm["policy"].(map[string]any)
		if pt := pol["policy-type"]; pt != "sts" && pt != "no-policy-found" && pt != "tlsa" {
			t.Errorf("policy-type %v", pt)
		}
		if s, _ := pol["policy-domain"].(string); s == "" {
			t.Errorf("policy-domain missing: %s", b)
		}
		if pol["policy-type"] == "sts" {
			if ps, _ := pol["policy-string"].([]any); len(ps) == 0 {
				t.Errorf("sts policy without policy-string: %s", b)
			}
		}
		if pol["policy-type"] == "tlsa" {
			checkTLSAPolicy(t, pol, b)
		}
		sum, _ := pm["summary"].(map[string]any)
		for _, k := range []string{"total-successful-session-count", "total-failure-session-count"} {
			if _, ok := sum[k].(float64); !ok {
				t.Errorf("summary %s missing: %s", k, b)
			}
		}
		fds, _ := pm["failure-details"].([]any)
		for _, fd := range fds {
			f, _ := fd.(map[string]any)
			if s, _ := f["result-type"].(string); !resultTypes[s] {
				t.Errorf("failure-details result-type %q is not one of RFC 8460 §4.3's: %s", s, b)
			}
			if _, ok := f["failed-session-count"].(float64); !ok {
				t.Errorf("failure-details without failed-session-count: %s", b)
			}
		}
	}
	return r
}

// resultTypes are RFC 8460 §4.3.2's result types (negotiation, policy and general failures).
var resultTypes = map[string]bool{
	"starttls-not-supported": true, "certificate-host-mismatch": true, "certificate-expired": true,
	"certificate-not-trusted": true, "validation-failure": true,
	"tlsa-invalid": true, "dnssec-invalid": true, "dane-required": true,
	"sts-policy-fetch-error": true, "sts-policy-invalid": true, "sts-webpki-invalid": true,
}

// tlsaRecord is a TLSA record in presentation form: usage, selector, matching type, hex data.
var tlsaRecord = regexp.MustCompile(`^[0-3] [01] [0-2] [0-9a-fA-F]+$`)

// checkTLSAPolicy checks a "tlsa" policy: its MX host, and its policy-string made of TLSA
// records (none when the lookup failed: a dnssec-invalid entry has no records to show).
func checkTLSAPolicy(t testing.TB, pol map[string]any, b []byte) {
	t.Helper()
	if mx, _ := pol["mx-host"].([]any); len(mx) != 1 {
		t.Errorf("tlsa policy without its one mx-host: %s", b)
	}
	ps, _ := pol["policy-string"].([]any)
	for _, r := range ps {
		if s, _ := r.(string); !tlsaRecord.MatchString(s) {
			t.Errorf("tlsa policy-string %q is not a TLSA record: %s", s, b)
		}
	}
}
