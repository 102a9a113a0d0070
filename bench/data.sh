#!/usr/bin/env bash
# Data-path benchmark (issue: HDF5 storage): pack throughput of Fashion-MNIST
# and of a ~1 GB synthetic catalogue of 100,000 categories, `inspect --verify`
# time, and reader_bench (episodes/s served cold and warm with 1 and 2
# prefetch threads, against episodes/s consumed by MAML; peak memory against
# the cache budget). Machine-readable lines start with '{'.
# Usage: bench/data.sh [WORK_DIR]   (needs ~2 GB free there)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
echo "# pack Fashion-MNIST (uint8 images, deflate 4)"
$BIN pack --source fashion-mnist --out "$work/fm" --force --quiet
echo "# pack synthetic: 100,000 categories, 32 features float32 (~1 GB raw), deflate 1"
/usr/bin/time -f '# pack peak RSS %M KB, %e s' \
  $BIN pack --source synthetic --categories 100000 --feature-dim 32 --min-items 20 --max-items 2000 \
  --compression 1 --out "$work/big" --force --quiet
echo "# inspect --verify on the synthetic catalogue"
/usr/bin/time -f '# verify %e s, peak RSS %M KB' $BIN inspect --verify "$work/big" | tail -1
echo "# reader, Fashion-MNIST 3-way 5-shot 15 queries, conv4 MAML"
build/bench/reader_bench "$work/fm" --ways 3 --shots 5 --queries 15 --episodes 2000 --cache-mb 256
echo "# reader, synthetic catalogue, 5-shot 15 queries, preference MAML, 4 ranks' rank 0, 8 MB cache"
build/bench/reader_bench "$work/big" --shots 5 --queries 15 --episodes 20000 --cache-mb 8 --world 4
