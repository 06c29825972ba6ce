// mcp.go: `multimail mcp`, an MCP server on stdin/stdout that is a client of the running
// server's HTTP API (docs/api.md, MCP).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"multimail.dev/multimail/api/mcp"
)

func cmdMCP(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "mcp", "mcp [--api-url URL] [--api-key KEY]")
	apiURL := fs.String("api-url", "", "the server's HTTP API (default $MULTIMAIL_API_URL or http://127.0.0.1:8025)")
	apiKey := fs.String("api-key", "", "API key (default $MULTIMAIL_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *apiURL == "" {
		*apiURL = env.getenv("MULTIMAIL_API_URL")
	}
	if *apiURL == "" {
		*apiURL = "http://127.0.0.1:8025"
	}
	if *apiKey == "" {
		*apiKey = env.getenv("MULTIMAIL_API_KEY")
	}
	if *apiKey == "" {
		return fmt.Errorf("%w: an API key is required (--api-key or MULTIMAIL_API_KEY)", errUsage)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Check the key at start, so a wrong one fails here and not at the first tool call. An
	// unreachable server is not fatal: the tools answer with a tool error until it is up.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := mcp.CheckKey(cctx, &mcp.Client{BaseURL: *apiURL, APIKey: *apiKey})
	cancel()
	switch {
	case errors.Is(err, mcp.ErrKeyRefused):
		return fmt.Errorf("multimail mcp: %w", err)
	case err != nil:
		fmt.Fprintf(env.stderr, "multimail mcp: warning: could not check the API key: %v\n", err)
	default:
		fmt.Fprintf(env.stderr, "multimail mcp: API key accepted by %s\n", *apiURL)
	}
	return mcp.RunStdio(ctx, *apiURL, *apiKey, os.Stdin, os.Stdout)
}
