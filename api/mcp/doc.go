// Package mcp is multimail's Model Context Protocol server (docs/api.md, MCP), built on the
// official go-sdk. Its tools (send_email, list_emails, read_email, tag_email, get_message,
// list_pending, decide_email, …; named as the hosted service's where they match) are thin clients of the HTTP JSON API: each tool turns its
// arguments into one API request and returns the API's JSON response as structuredContent and
// as text, or, for a non-2xx answer, a tool error carrying the API's error (which names the
// field). So the tools are implemented once for both transports: stdio (`multimail mcp`, over
// HTTP to a running server) and streamable HTTP at /mcp (in process, with the caller's key).
package mcp
