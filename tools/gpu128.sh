#!/usr/bin/env bash
# The 128 px generator's run on a lent GPU (issue 33), one command within the device's 10 minutes:
#   carry .gpu (make gpu-data writes .gpu/fer6-128.npz), then run: BUDGET=300 bash tools/gpu128.sh
# It unpacks the FER+ sketches, trains the two guides, probes the training speed for 40 steps, sizes
# configs/train-ferplus-128.yaml's steps to BUDGET seconds of training, trains, and writes into $OUT:
# the slim checkpoint (generator-fer6-128.pt), log.jsonl, the last sample grid, and run.json (steps,
# images seen, seconds, hardware). Judge the checkpoint back here with benchmarks/realfaces.py --size 128.
# SMOKE=1 shrinks the guides and the probe so that the whole script runs on a CPU in a few minutes.
# EXTRA sets training keys of the config, replacing or adding (e.g. EXTRA="lambda_mask: 0.1"; recorded in run.json).
# PHOTO_MARGIN (default 0.1, as the shipped 64 px model) is how a photo's face box is framed for the model.
set -euo pipefail
BUDGET=${BUDGET:-300}
OUT=${OUT:-gpu-out}
PY=${PY:-python3}
W=${WORK:-/tmp/gpu128}
DEVICE=${DEVICE:-auto}
PROBE=${PROBE:-40}
# BUDGET and PROBE become numbers in the Python below: whole numbers only, never text.
for v in BUDGET PROBE; do
  [[ "${!v}" =~ ^[1-9][0-9]{0,5}$ ]] || { echo "gpu128.sh: $v must be a whole number from 1 to 999999, not '${!v}'" >&2; exit 2; }
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
E="$PY -m emosketch.cli"
mkdir -p "$OUT" "$W"
sed -e "s|^guide: .*|guide: $W/guide.pt|" -e "s|^extra_guides: .*|extra_guides: [$W/guide-coarse.pt]|" \
  configs/train-ferplus-128.yaml > "$W/base.yaml"
# EXTRA: training keys for this run, one a line: a one-line key of the config is replaced, a new one added
# (e.g. EXTRA="lambda_mask: 0.1"); the text reaches Python through the environment, never as source. Made
# first, so that a key it refuses stops the run before any work (the guides it names are trained below)
EXTRA="${EXTRA:-}" $PY tools/gpu128.py keys "$W/base.yaml" --out "$W/base.yaml"
t0=$(date +%s)
$PY tools/gpu128.py unpack .gpu/fer6-128.npz --out "$W/fer6-128"
for g in guide guide-coarse; do
  cfg=configs/classifier-$g.yaml
  if [ "${SMOKE:-0}" = 1 ]; then
    sed -e 's/^epochs: .*/epochs: 1/' -e 's/^samples_per_epoch: .*/samples_per_epoch: 128/' $cfg > "$W/$g.yaml"; cfg="$W/$g.yaml"
  fi
  [ -f "$W/$g.pt" ] || $E classifier train --data "$W/fer6-128" --config $cfg --out "$W/$g.pt" --device "$DEVICE"
done
rm -rf "$W/probe"
p0=$(date +%s.%N)
$E train --config "$W/base.yaml" --data "$W/fer6-128" --out "$W/probe" --steps "$PROBE" --device "$DEVICE"
p1=$(date +%s.%N)
STEPS=$($PY -c "print(max(10, int($BUDGET / (($p1 - $p0) / $PROBE)) // 10 * 10))")
sed -e "s/^steps: .*/steps: $STEPS/" "$W/base.yaml" > "$W/train.yaml"
echo "probe: $PROBE steps in $($PY -c "print(round($p1 - $p0, 1))") s -> $STEPS steps for $BUDGET s"
rm -rf "$W/run"
s0=$(date +%s.%N)
$E train --config "$W/train.yaml" --data "$W/fer6-128" --out "$W/run" --device "$DEVICE"
s1=$(date +%s.%N)
HW=$($PY -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU')")
NOTE="configs/train-ferplus-128.yaml on FER+ train, six emotions, 128 px: $STEPS steps of batch 32 ($((STEPS * 32)) source images), $($PY -c "print(round(($s1 - $s0) / 60, 1))") min on one $HW${EXTRA:+; set: ${EXTRA//$'\n'/, }}"
$E slim "$W/run/checkpoint.pt" --out "$OUT/generator-fer6-128.pt" --note "$NOTE" --photo-margin "${PHOTO_MARGIN:-0.1}"
cp "$W/run/log.jsonl" "$OUT/log.jsonl"
last=$(ls "$W/run/samples" | sort | tail -1); cp "$W/run/samples/$last" "$OUT/samples.png"
# The text (the device's name, the note, EXTRA) reaches Python through the environment, never as source.
HW="$HW" NOTE="$NOTE" $PY - "$OUT/run.json" <<PYEOF
import json, os, sys
json.dump({"steps": $STEPS, "batch": 32, "images_seen": $STEPS * 32, "train_seconds": round($s1 - $s0, 1),
           "probe_steps": $PROBE, "probe_seconds": round($p1 - $p0, 1), "all_seconds": $(date +%s) - $t0,
           "hardware": os.environ["HW"], "note": os.environ["NOTE"], "extra": os.environ.get("EXTRA", "")},
          open(sys.argv[1], "w"), indent=1)
PYEOF
cat "$OUT/run.json"
