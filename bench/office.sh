#!/usr/bin/env bash
# bench/office.sh: DOCX and XLSX text extraction throughput, docvet's
# extractors (go test -bench BenchmarkCorpus, in-process) against the anchor
# tools (docx2txt FILE -, xlsx2csv -a FILE; one process per file, as a file
# share crawl would run them) over the same corpus files, in one run.
# Usage: bash bench/office.sh [corpus-dir]
# Needs: apt-get install -y docx2txt xlsx2csv (anchors are skipped if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/corpus}"
[ -d "$corpus/docx" ] || { echo "corpus not found: $corpus" >&2; exit 1; }

# go_rate PKG: prints "seconds-per-pass files/s MB/s" from BenchmarkCorpus.
go_rate() {
  go test "./extractor/$1/" -run '^$' -bench '^BenchmarkCorpus$' -benchtime 3x |
    awk '/^BenchmarkCorpus/ {for (i=1;i<=NF;i++) {if ($(i+1)=="ns/op") ns=$i; if ($(i+1)=="MB/s") mb=$i; if ($(i+1)=="files/s") fs=$i}}
         END {printf "%.3f %.2f %.2f\n", ns/1e9, fs, mb}'
}

# anchor_rate FORMAT: runs the anchor on every file, prints "seconds files/s MB/s".
anchor_rate() {
  local start end
  start=$(date +%s.%N)
  for f in "${files[@]}"; do
    if [ "$1" = docx ]; then timeout 60 docx2txt "$f" - >/dev/null 2>&1 || true
    else timeout 60 xlsx2csv -a "$f" >/dev/null 2>&1 || true; fi
  done
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="${#files[@]}" -v b="$bytes" \
    'BEGIN{t=e-s; printf "%.3f %.2f %.2f\n", t, n/t, b/1e6/t}'
}

printf "%-6s %-22s %6s %8s %9s %7s  %s\n" format tool files seconds files/s MB/s "docvet/anchor"
for fmt in docx xlsx; do
  files=("$corpus/$fmt"/*."$fmt")
  bytes=$(cat "${files[@]}" | wc -c)
  read -r gs gf gm < <(go_rate "$fmt")
  printf "%-6s %-22s %6d %8s %9s %7s\n" "$fmt" "docvet (in-process)" "${#files[@]}" "$gs" "$gf" "$gm"
  if [ "$fmt" = docx ]; then tool=docx2txt; label="docx2txt FILE -"; else tool=xlsx2csv; label="xlsx2csv -a FILE"; fi
  if command -v "$tool" >/dev/null; then
    read -r as af am < <(anchor_rate "$fmt")
    ratio=$(awk -v g="$gf" -v a="$af" 'BEGIN{printf "%.2fx", g/a}')
    printf "%-6s %-22s %6d %8s %9s %7s  %s\n" "$fmt" "$label" "${#files[@]}" "$as" "$af" "$am" "$ratio"
  else
    echo "$fmt: $tool not installed (apt-get install -y docx2txt xlsx2csv)"
  fi
done
