#!/usr/bin/env bash
# checksrc.sh - flywheel's source lint (in the spirit of curl's checksrc).
# Bans sprintf, vsprintf, strcpy, strcat, strtok, atoi, atol and atoll, and
# flags strtol/strtoul/strtoll/strtoull calls whose result is not checked
# through errno or the end pointer within the next lines (a NULL end
# pointer is always flagged: trailing garbage would pass unnoticed).
# Comments and string literals are ignored. A line holding the comment
# "checksrc: allow" is exempt (say why next to it).
# Usage: tools/checksrc.sh [REPO_ROOT]; exit 0 clean, 1 findings.
set -euo pipefail

root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"

dirs=()
for d in collector investigator tests; do
  [ -d "$d" ] && dirs+=("$d")
done
[ "${#dirs[@]}" -eq 0 ] && { echo "checksrc: nothing to check under $root"; exit 0; }

mapfile -t files < <(find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) \
                       -not -path '*/node_modules/*' | LC_ALL=C sort)
[ "${#files[@]}" -eq 0 ] && { echo "checksrc: no C sources"; exit 0; }

awk '
function flush_pending(   k) {
  for (k in pend_file) {
    printf "%s:%d: %s result not checked (test errno or the end pointer)\n",
           pend_file[k], pend_line[k], pend_fn[k]
    bad++
    delete pend_file[k]; delete pend_line[k]; delete pend_fn[k]
    delete pend_end[k]; delete pend_left[k]
  }
}
# Strips comments and the contents of string/char literals from one line;
# in_comment carries /* */ state across lines.
function strip(s,   out, i, n, c, c2, q, d) {
  out = ""; n = length(s); i = 1
  while (i <= n) {
    c = substr(s, i, 1); c2 = substr(s, i, 2)
    if (in_comment) { if (c2 == "*/") { in_comment = 0; i += 2 } else i++; continue }
    if (c2 == "/*") { in_comment = 1; i += 2; continue }
    if (c2 == "//") break
    if (c == "\"" || c == "\047") {
      q = c; out = out q; i++
      while (i <= n) {
        d = substr(s, i, 1)
        if (d == "\\") { i += 2; continue }
        if (d == q) break
        i++
      }
      out = out q; i++
      continue
    }
    out = out c; i++
  }
  return out
}
function has_word(s, w,   re) {
  re = "(^|[^A-Za-z0-9_])" w "([^A-Za-z0-9_]|$)"
  return s ~ re
}
FNR == 1 { flush_pending(); in_comment = 0 }
{
  raw = $0
  code = strip(raw)
  allow = (raw ~ /checksrc: *allow/)

  # Pending strtol checks: satisfied by errno or the end pointer nearby.
  for (k in pend_file) {
    if (has_word(code, "errno") || (pend_end[k] != "" && has_word(code, pend_end[k]))) {
      delete pend_file[k]; delete pend_line[k]; delete pend_fn[k]
      delete pend_end[k]; delete pend_left[k]
    } else if (--pend_left[k] <= 0) {
      printf "%s:%d: %s result not checked (test errno or the end pointer)\n",
             pend_file[k], pend_line[k], pend_fn[k]
      bad++
      delete pend_file[k]; delete pend_line[k]; delete pend_fn[k]
      delete pend_end[k]; delete pend_left[k]
    }
  }
  if (allow) next

  rest = code
  while (match(rest, /(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll)[ \t]*\(/)) {
    m = substr(rest, RSTART, RLENGTH)
    sub(/^[^A-Za-z_]/, "", m); sub(/[ \t]*\($/, "", m)
    printf "%s:%d: banned function %s (use snprintf / a bounded copy / a checked parser)\n",
           FILENAME, FNR, m
    bad++
    rest = substr(rest, RSTART + RLENGTH)
  }

  rest = code
  while (match(rest, /(^|[^A-Za-z0-9_])strto(l|ul|ll|ull|imax|umax)[ \t]*\(/)) {
    fn = substr(rest, RSTART, RLENGTH)
    sub(/^[^A-Za-z_]/, "", fn); sub(/[ \t]*\($/, "", fn)
    args = substr(rest, RSTART + RLENGTH)
    rest = args
    endp = ""
    if (match(args, /,[ \t]*/)) {
      second = substr(args, RSTART + RLENGTH)
      if (second ~ /^(NULL|0)[ \t]*[,)]/) {
        printf "%s:%d: %s with a NULL end pointer cannot detect trailing garbage\n",
               FILENAME, FNR, fn
        bad++
        continue
      }
      if (match(second, /^&[ \t]*[A-Za-z_][A-Za-z0-9_]*/)) {
        endp = substr(second, RSTART, RLENGTH); sub(/^&[ \t]*/, "", endp)
      } else if (match(second, /^[A-Za-z_][A-Za-z0-9_]*/)) {
        endp = substr(second, RSTART, RLENGTH)
      }
      # The same line may already check: "x = strtol(s, &end, 10); if (*end) ..."
      after = substr(second, length(endp) + 2)
      if (has_word(code, "errno") || (endp != "" && has_word(after, endp))) continue
    }
    npend++
    pend_file[npend] = FILENAME; pend_line[npend] = FNR; pend_fn[npend] = fn
    pend_end[npend] = endp; pend_left[npend] = 5
  }
}
END {
  flush_pending()
  if (bad) { printf "checksrc: %d finding(s)\n", bad; exit 1 }
  printf "checksrc: %d files clean\n", nfiles_hint
}
' nfiles_hint="${#files[@]}" "${files[@]}"
