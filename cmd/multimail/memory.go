// memory.go: the process's memory limit and the byte budget of large request bodies.
package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
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

// memoryBudget applies the memory limit and returns the body budget (half the limit).
func memoryBudget(cfg LimitsConfig, log *slog.Logger) (*budget.Bytes, error) {
	limit := int64(defaultMemoryLimit)
	switch {
	case cfg.Memory > 0:
		limit = cfg.Memory.N()
	case os.Getenv("GOMEMLIMIT") != "":
		limit = debug.SetMemoryLimit(-1) // the runtime applied GOMEMLIMIT already
	}
	if limit != math.MaxInt64 {
		debug.SetMemoryLimit(limit)
	}
	log.Info("memory limit", "limit_bytes", limit, "body_budget_bytes", limit/2)
	return budget.New(limit/2, budgetWait), nil
}
