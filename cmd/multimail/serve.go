// serve.go: `multimail serve`: load the config, open the store, bring the directory in line
// with the config, bind every listener, run until a signal, then shut down in two phases.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// serveFlags are the flags of `multimail serve`.
type serveFlags struct {
	config    string
	logFormat string
	logLevel  string
	grace     time.Duration
}

func cmdServe(ctx context.Context, env *cliEnv, args []string) error {
	var f serveFlags
	fs := newFlags(env, "serve", "serve [--config FILE] [flags]")
	fs.StringVar(&f.config, "config", "", "TOML config file (default: the embedded dev default)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "how long shutdown waits for sessions and deliveries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	log, err := newLogger(env.stderr, f.logFormat, f.logLevel)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg := devConfig()
	if f.config != "" {
		c, err := LoadConfig(f.config)
		if err != nil {
			return err
		}
		cfg = *c
	}
	return serve(ctx, env, &cfg, log, f.grace, f.logFormat)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q (want text or json)", format)
}

// serve runs a node until ctx ends or SIGINT/SIGTERM arrives. A second signal exits at once.
func serve(ctx context.Context, env *cliEnv, cfg *Config, log *slog.Logger, grace time.Duration, logFormat string) error {
	start := time.Now()
	// SIGHUP is caught from the first moment, so one sent during start is not fatal (Go's
	// default for SIGHUP is to exit); it is acted on once everything is serving.
	hupc := make(chan os.Signal, 1)
	signal.Notify(hupc, syscall.SIGHUP)
	defer signal.Stop(hupc)
	checkFileLimit(log, raiseFileLimit(log), cfg)
	syscall.Umask(privateUmask) // files 0600, dirs 0700, whatever umask we were started under
	n, err := newNode(cfg, log)
	if err != nil {
		return err
	}
	defer n.close()
	if err := n.restoreFixups(ctx); err != nil {
		return err
	}
	if err := n.bootstrap(ctx); err != nil {
		return err
	}
	if err := n.build(); err != nil {
		return err
	}
	if err := n.sup.bind(); err != nil {
		return err
	}
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)

	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	// The banner goes out before anything is served, so whoever sees /healthz answer has the
	// banner (and the dev key) already.
	if logFormat == "json" {
		n.logBanner(time.Since(start))
	} else {
		n.printBanner(env.stdout, time.Since(start))
	}
	n.sup.start(workCtx)
	if logFormat != "json" {
		log.Info("multimail started", "hostname", cfg.Hostname, "data_dir", cfg.DataDir,
			"config", cfg.path, "startup_ms", time.Since(start).Milliseconds())
	}

	var runErr error
run:
	for {
		select {
		case <-ctx.Done():
			break run
		case <-hupc:
			log.Info("SIGHUP: reloading certificates and config", "config", cfg.path)
			_ = n.reloadConfig(workCtx) // logged; a refused reload keeps the running config
		case s := <-sigc:
			log.Info("shutting down: draining", "signal", s.String(), "grace", grace)
			break run
		case runErr = <-n.sup.errc:
			log.Error("a service failed; shutting down", "err", runErr)
			break run
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigc:
			log.Warn("second signal: exiting now", "signal", s.String())
			os.Exit(1)
		case <-done:
		}
	}()
	n.shutdown(grace, stopWork)
	log.Info("multimail stopped")
	return runErr
}

// fileReserve is what the process needs besides connections: Pebble's files, the webhook and
// delivery clients, the admin socket.
const fileReserve = 512

// checkFileLimit warns when the connection caps of the enabled listener kinds could use more
// file descriptors than the soft limit leaves (soft 0: unknown, no check).
func checkFileLimit(log *slog.Logger, soft uint64, cfg *Config) {
	if soft == 0 {
		return
	}
	l := cfg.Listen
	var need uint64 = fileReserve
	for kind, on := range map[string]bool{kindSMTP: l.SMTP != "" || l.Submission != "" || l.Submissions != "",
		kindIMAP: l.IMAP != "" || l.IMAPS != "", kindHTTP: l.HTTP != ""} {
		if on {
			max, _ := cfg.Limits.forKind(kind)
			need += uint64(max)
		}
	}
	if need > soft {
		log.Warn("the connection caps allow more connections than the open-file limit; lower [limits] "+
			"max_connections or raise the hard limit (ulimit -Hn, LimitNOFILE=)", "open_file_limit", soft, "needed", need)
	}
}
