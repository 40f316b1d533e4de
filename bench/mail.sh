#!/usr/bin/env bash
# bench/mail.sh — e-mail extraction speed, docvet vs the Python email anchor,
# on the same files in one run (corpus eml/: *.eml + *.mbox).
#
#   docvet : go test -bench BenchmarkExtractCorpus ./extractor/mail (b.Loop,
#            all files per iteration, in-process)
#   python : python3 with email (policy.default), one process per file as the
#            corpus anchor was run: headers + text parts + attachment lines.
#
# Usage: bash bench/mail.sh [corpus-dir]   (default ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${1:-../shared/corpus}"
DIR="$CORPUS/eml"
[ -d "$DIR" ] || { echo "corpus not found: $DIR" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not installed" >&2; exit 1; }
# Resolve the real interpreter once: version-manager shims (pyenv) add a
# shell start per call that the anchor runs did not pay.
PY3=$(python3 -c 'import sys; print(sys.executable)')

files=("$DIR"/*.eml "$DIR"/*.mbox)
n=${#files[@]}
bytes=$(cat "${files[@]}" | wc -c)

PY='
import sys, email, mailbox
from email import policy
def walk(m, out):
    for h in ("From","To","Cc","Subject","Date"):
        if m[h] is not None: out.append("%s: %s" % (h, m[h]))
    for p in m.walk():
        if p.is_multipart(): continue
        ct = p.get_content_type()
        if ct.startswith("text/") and p.get_content_disposition() != "attachment":
            try: out.append(str(p.get_content()))
            except Exception: out.append(p.get_payload(decode=True).decode("latin-1"))
        else:
            out.append("[attachment: %s %s]" % (p.get_filename(), ct))
path = sys.argv[1]
out = []
if path.endswith(".mbox"):
    for m in mailbox.mbox(path, factory=lambda f: email.message_from_binary_file(f, policy=policy.default)):
        walk(m, out)
else:
    with open(path, "rb") as f:
        walk(email.message_from_binary_file(f, policy=policy.default), out)
sys.stdout.write("\n".join(out))
'

start=$(date +%s.%N)
for f in "${files[@]}"; do "$PY3" -c "$PY" "$f" >/dev/null; done
end=$(date +%s.%N)
py_s=$(echo "$end - $start" | bc -l)

go_out=$(go test ./extractor/mail -run '^$' -bench BenchmarkExtractCorpus -benchtime 3s -count 1)
go_ns=$(echo "$go_out" | awk '/^BenchmarkExtractCorpus/ {print $3}')
go_s=$(echo "$go_ns / 1000000000" | bc -l)

printf '%-28s %6s %9s %10s %10s %9s\n' tool files MB seconds files/s MB/s
printf '%-28s %6d %9.3f %10.4f %10.1f %9.2f\n' "docvet extractor/mail" "$n" "$(echo "$bytes/1000000" | bc -l)" "$go_s" \
  "$(echo "$n / $go_s" | bc -l)" "$(echo "$bytes / 1000000 / $go_s" | bc -l)"
printf '%-28s %6d %9.3f %10.4f %10.1f %9.2f\n' "python3 email (1 proc/file)" "$n" "$(echo "$bytes/1000000" | bc -l)" "$py_s" \
  "$(echo "$n / $py_s" | bc -l)" "$(echo "$bytes / 1000000 / $py_s" | bc -l)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
