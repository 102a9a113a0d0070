#!/usr/bin/env bash
# The cold-start table on a packed synthetic catalogue (HDF5 shards): AUC,
# NDCG@10 and recall@10 at 0, 1, 5 and 10 shots for
#   maml+descriptor  the start the descriptor network gives each category
#   maml             the plain meta-learned start
#   finetune         joint pre-training on every training category, then
#                    fine-tuning on the support set
#   scratch          training a fresh model on the support set
#   oracle           the catalogue's true click model (its score z of each
#                    query item): the best ranking any method can reach
# on warm categories (seen in meta-training) and cold ones (the test split),
# all on the same fixed episodes (mean ± 95% CI), then each method's gap to
# the oracle's AUC (oracle AUC - method AUC) at every shot count.
#
#   bench/coldstart.sh [CATEGORIES] [STEPS]      defaults 10000 and 1000
#   RANKS=2      training ranks (mpirun); 1 = a single process
#   OUT=DIR      keep the catalogue and runs there (default: a temp dir)
#   JSON=FILE    also append the result lines to FILE
set -euo pipefail
cd "$(dirname "$0")/.."
CATS=${1:-10000}
STEPS=${2:-1000}
RANKS=${RANKS:-2}
EPISODES=${EPISODES:-500}
BIN=${BIN:-build/metacat}
[ -x "$BIN" ] || { echo "coldstart.sh: $BIN not built (bash scripts/build)" >&2; exit 1; }
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
data=$out/catalogue
[ -f "$data/manifest.h5" ] || $BIN pack --source synthetic --categories "$CATS" --seed 3 --out "$data" --quiet

launch=()
[ "$RANKS" -gt 1 ] && launch=(mpirun -np "$RANKS" --oversubscribe --allow-run-as-root)
common=(--config configs/preference.yaml --set data.source=shards --set "data.path=$data"
        --set train.steps="$STEPS" --set eval.at_end=false --set eval.val_every=0 --resume auto)
t0=$(date +%s)
"${launch[@]}" $BIN train "${common[@]}" --run-dir "$out/descriptor" --set learner.descriptor_init=true | tail -1
"${launch[@]}" $BIN train "${common[@]}" --run-dir "$out/plain" --set learner.descriptor_init=false | tail -1
"${launch[@]}" $BIN train "${common[@]}" --run-dir "$out/finetune" --set learner.name=finetune \
  --set learner.descriptor_init=false | tail -1
echo "# trained 3 runs of $STEPS steps on $RANKS rank(s) in $(( $(date +%s) - t0 )) s"
# The oracle needs the true scores, which packs made before they existed lack.
oracle=(--baseline oracle)
/usr/bin/python3 -c "import h5py, sys; sys.exit('oracle' not in h5py.File(sys.argv[1], 'r')['categories/00000000'])" \
  "$data/shard-00000.h5" || { oracle=(); echo "# no true scores found in $data (packed before the oracle, or no h5py): no oracle row" >&2; }
$BIN eval --checkpoint "$out/descriptor" --checkpoint "$out/plain" --checkpoint "$out/finetune" --baseline scratch "${oracle[@]}" \
  --set "eval.shots=[0, 1, 5, 10]" --set eval.warm=true --set eval.episodes="$EPISODES" \
  --json "$out/coldstart.json" >/dev/null
/usr/bin/python3 - "$out/coldstart.json" "$CATS" "$STEPS" "${JSON:-}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print(f"# {sys.argv[2]} categories, {sys.argv[3]} meta-steps; AUC mean ± 95% CI ({results[0]['episodes']} episodes)")
shots = (0, 1, 5, 10)
methods = ("maml+descriptor", "maml", "finetune", "scratch")
def row(group, method):
    return {r["shots"]: r for r in results if r.get("categories") == group and r["method"] == method}
print(f"# {'categories':<10} {'method':<17}" + "".join(f"{s:>17}" for s in shots))
for group in ("warm", "cold"):
    for method in methods + ("oracle",):
        cells = row(group, method)
        cells = "".join(f"{cells[s]['mean']:>9.4f} ± {cells[s]['ci95']:.4f}" if s in cells else f"{'-':>17}" for s in shots)
        print(f"# {group:<10} {method:<17}{cells}")
# The gap to the oracle: how much AUC is left between a method and the true model.
oracle = {g: row(g, "oracle") for g in ("warm", "cold")}
if any(oracle.values()):
    print(f"# gap to the oracle AUC (oracle AUC - method AUC; same episodes)")
    for group in ("warm", "cold"):
        for method in methods:
            cells = row(group, method)
            cells = "".join(f"{oracle[group][s]['mean'] - cells[s]['mean']:>17.4f}"
                            if s in cells and s in oracle[group] else f"{'-':>17}" for s in shots)
            print(f"# {group:<10} {method:<17}{cells}")
lines = []
for r in results:
    line = {"bench": "coldstart", "categories": r.get("categories"), "method": r["method"],
            "shots": r["shots"], "auc": round(r["mean"], 4), "auc_ci95": round(r["ci95"], 4),
            "ndcg@10": round(r["metrics"]["ndcg@10"], 4),
            "recall@10": round(r["metrics"]["recall@10"], 4), "episodes": r["episodes"]}
    best = oracle.get(r.get("categories"), {}).get(r["shots"])
    if best is not None and r["method"] != "oracle":
        line["gap_to_oracle"] = round(best["mean"] - r["mean"], 4)
    lines.append(json.dumps(line))
print("\n".join(lines))
if sys.argv[4]:
    with open(sys.argv[4], "a") as f:
        f.write("\n".join(lines) + "\n")
PY
