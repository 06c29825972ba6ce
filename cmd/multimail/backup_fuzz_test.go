package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarOf(t testing.TB, entries ...[2]string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		if strings.HasSuffix(e[0], "/") {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: e[0], Mode: 0o700})
			continue
		}
		_ = tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o600, Size: int64(len(e[1]))})
		_, _ = tw.Write([]byte(e[1]))
	}
	_ = tw.Close()
	return b.Bytes()
}

// TestExtractBackup: a complete stream is written with private modes; one without its
// manifest, with an entry after it, a miscount, or a name leaving the directory is refused.
func TestExtractBackup(t *testing.T) {
	good := tarOf(t, [2]string{"db/", ""}, [2]string{"db/000001.sst", "x"}, [2]string{"tls/key.pem", "k"},
		[2]string{backupManifest, `{"format":1,"files":3}`})
	dir := t.TempDir()
	m, err := extractBackup(bytes.NewReader(good), dir)
	if err != nil || m.Files != 3 {
		t.Fatalf("good stream: %+v %v", m, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tls/key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v %v", fi, err)
	}
	for name, stream := range map[string][]byte{
		"no manifest":  tarOf(t, [2]string{"db/x", "1"}),
		"after":        tarOf(t, [2]string{backupManifest, `{"files":0}`}, [2]string{"db/x", "1"}),
		"miscount":     tarOf(t, [2]string{"db/x", "1"}, [2]string{backupManifest, `{"files":2}`}),
		"escape":       tarOf(t, [2]string{"../evil", "1"}, [2]string{backupManifest, `{"files":1}`}),
		"absolute":     tarOf(t, [2]string{"/tmp/evil", "1"}, [2]string{backupManifest, `{"files":1}`}),
		"cut short":    good[:len(good)/2],
		"not a tar":    []byte("hello"),
		"bad manifest": tarOf(t, [2]string{backupManifest, `{`}),
	} {
		if _, err := extractBackup(bytes.NewReader(stream), t.TempDir()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzExtractBackup: any stream is written inside the directory or refused, never a panic.
func FuzzExtractBackup(f *testing.F) {
	f.Add(tarOf(f, [2]string{"db/", ""}, [2]string{"db/x", "x"}, [2]string{backupManifest, `{"files":2}`}))
	f.Add(tarOf(f, [2]string{"../x", "x"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "backup")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, _ = extractBackup(bytes.NewReader(data), dir)
		ents, err := os.ReadDir(parent)
		if err != nil || len(ents) != 1 {
			t.Fatalf("something was written beside the backup directory: %v %v", ents, err)
		}
	})
}
