package server

import (
	"context"
	"log/slog"
)

// FitDescriptors fits the connection caps into the open-file limit, so the
// server never runs out of file descriptors (then it could accept nothing,
// not even a health check). It first raises the soft limit to the hard
// limit (Go does so at start-up too). Websockets may take at most half the
// descriptors; an eighth (at least 128) is kept for the database, files and
// logs; HTTP connections may take the rest, which is what MaxConnections
// becomes when it is 0. A cap above its share is lowered, with a warning.
// Where the platform has no such limit, l is returned as it is.
func FitDescriptors(ctx context.Context, l ConnLimits, log *slog.Logger) ConnLimits {
	n, ok := openFileLimit()
	if !ok {
		return l
	}
	fitted := fitDescriptors(l, n)
	if lowered(l.MaxWebsockets, fitted.MaxWebsockets) || lowered(l.MaxConnections, fitted.MaxConnections) {
		log.WarnContext(ctx, "connection caps lowered to fit the open-file limit (raise it with ulimit -n or LimitNOFILE)",
			slog.Uint64("open_files", n),
			slog.Int("max_websockets", fitted.MaxWebsockets), slog.Int("max_connections", fitted.MaxConnections))
	}
	return fitted
}

// fitDescriptors is FitDescriptors' arithmetic for a limit of n open files.
func fitDescriptors(l ConnLimits, n uint64) ConnLimits {
	const most = 1 << 24 // "unlimited" needs no more
	n = min(n, most)
	reserve := max(n/8, 128)
	if reserve >= n {
		return l // too few to share out; leave the operator's numbers
	}
	if ws := int(n / 2); l.MaxWebsockets == 0 || l.MaxWebsockets > ws {
		l.MaxWebsockets = ws
	}
	if rest := int(n - reserve - uint64(l.MaxWebsockets)); l.MaxConnections == 0 || l.MaxConnections > rest {
		l.MaxConnections = max(rest, 1)
	}
	return l
}

// lowered reports whether a cap the operator set was lowered.
func lowered(set, fitted int) bool { return set > 0 && fitted < set }
