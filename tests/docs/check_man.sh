#!/usr/bin/env bash
# The man page openrisk-cache(8): built (go-md2man), renders with groff without a warning, `man -l` shows
# its sections, and it names every command and flag the daemon's --help names (so the two cannot drift).
set -euo pipefail
PAGE="${BUILD_DIR:?}/openrisk-cache.8"
DAEMON="${BUILD_DIR}/openrisk-cache"
[ -f "$PAGE" ] || { echo "FAIL no $PAGE (is go-md2man installed?)"; exit 1; }

warnings=$(groff -man -Tutf8 -ww -z "$PAGE" 2>&1 || true)
[ -z "$warnings" ] || { echo "FAIL groff warnings:"; echo "$warnings"; exit 1; }

text=$(MANWIDTH=100 man -l "$PAGE" 2>/dev/null)
fail=0
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS SIGNALS "EXIT STATUS" FILES "SEE ALSO"; do
  grep -q "^$section\$" <<<"$text" || { echo "FAIL section $section missing"; fail=1; }
done
# Every command and flag of --help.
for word in $("$DAEMON" --help | grep -oE '(^|[[:space:]])(serve|check|explain|--[a-z-]+|-H|-h|-V)\b' | sort -u); do
  grep -qF -- "$word" <<<"$text" || { echo "FAIL --help names '$word', the man page does not"; fail=1; }
done
"$DAEMON" --help | grep -q "man 8 openrisk-cache" || { echo "FAIL --help does not point at the man page"; fail=1; }
[ "$fail" = 0 ] && echo "ok man page: renders, has its sections, covers --help"
exit "$fail"
