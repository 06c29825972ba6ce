// memory.go: the process's memory limit and the byte budget of large request bodies.
package main

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"multimail.dev/multimail/budget"
)

// defaultMemoryLimit is the Go memory limit when neither [limits] memory nor GOMEMLIMIT
// sets one: a soft limit (the GC works harder near it and returns memory to the OS), not a
// cap that kills the process.
const defaultMemoryLimit = 1 << 30

// budgetWait is how long a large request waits for its share of the budget before it is
// refused with "try again later".
const budgetWait = 10 * time.Second

// LimitsConfig holds process-wide resource limits.
type LimitsConfig struct {
	// Memory is the Go memory limit ("1GiB", "512MiB"); empty: GOMEMLIMIT, else 1 GiB.
	// Half of it is the budget large request bodies (API sends, IMAP APPEND) reserve.
	Memory string `toml:"memory"`
}

// memoryBudget applies the memory limit and returns the body budget (half the limit).
func memoryBudget(cfg LimitsConfig, log *slog.Logger) (*budget.Bytes, error) {
	limit := int64(defaultMemoryLimit)
	switch {
	case cfg.Memory != "":
		v, err := parseSize(cfg.Memory)
		if err != nil {
			return nil, fmt.Errorf("limits.memory: %w", err)
		}
		limit = v
	case os.Getenv("GOMEMLIMIT") != "":
		limit = debug.SetMemoryLimit(-1) // the runtime applied GOMEMLIMIT already
	}
	if limit != math.MaxInt64 {
		debug.SetMemoryLimit(limit)
	}
	log.Info("memory limit", "limit_bytes", limit, "body_budget_bytes", limit/2)
	return budget.New(limit/2, budgetWait), nil
}

// parseSize parses a byte size: a number with an optional B, KiB, MiB, GiB or TiB suffix.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. \"1GiB\", \"512MiB\")", s)
	}
	return n * mult, nil
}
