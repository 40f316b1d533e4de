#!/usr/bin/env bash
# bench/pdf.sh: PDF text extraction throughput, docvet's engines against the
# anchor tool (pdftotext FILE -, one process per file) over the same corpus
# files, in one run. Usage: bash bench/pdf.sh [corpus-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/corpus}/pdf"
[ -d "$corpus" ] || { echo "corpus not found: $corpus" >&2; exit 1; }
files=("$corpus"/*.pdf)
bytes=$(cat "${files[@]}" | wc -c)
echo "files: ${#files[@]}  MB: $(awk -v b="$bytes" 'BEGIN{printf "%.2f", b/1e6}')"

echo "== docvet (go test -bench BenchmarkCorpus, in-process, 3 passes)"
go test ./extractor/pdf/ -run '^$' -bench 'BenchmarkCorpus/go' -benchtime 3x | grep Benchmark

if command -v pdftotext >/dev/null; then
  echo "== pdftotext FILE - (one process per file, output to /dev/null, 1 pass)"
  start=$(date +%s.%N)
  for f in "${files[@]}"; do timeout 60 pdftotext -enc UTF-8 "$f" - >/dev/null 2>&1 || true; done
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="${#files[@]}" -v b="$bytes" \
    'BEGIN{t=e-s; printf "pdftotext: %.3f s  %.2f files/s  %.2f MB/s\n", t, n/t, b/1e6/t}'
else
  echo "pdftotext not installed (apt-get install poppler-utils)"
fi
