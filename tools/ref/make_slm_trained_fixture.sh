#!/usr/bin/env bash
# Makes tests/fixtures/lora/slm_trained/<case>/ for tools/ref/check_peft_loads_slm.py: an adapter trained by
# `slm train` (so B is non-zero and the file is ours, not PEFT's) on the tiny random models with the tiny
# tokenizer, slm's logits of the unmerged adapter (`slm logits --adapter`) and slm's merge (`slm merge`).
# Run here (no torch needed), then run the Python check on the device machine.
#   tools/ref/make_slm_trained_fixture.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
slm="${1:-build}/slm"
out=tests/fixtures/lora/slm_trained
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ids=3,17,250,41,9,77,120,5,200,64,33,180,12,99,7,150
for case in qwen2 phi3; do
  model="$tmp/$case-model"
  mkdir -p "$model" "$out/$case"
  cp tests/fixtures/models/$case/* tests/fixtures/chat/tiny_tokenizer/* "$model"/
  "$slm" train --model "$model" --data tests/fixtures/chat/train_tiny.jsonl --out "$tmp/$case-run" --max-steps 8 \
    --lr 5e-3 --batch-tokens 512 --eval-split 0 --rank 4 --alpha 8 >/dev/null
  rm -rf "$out/$case/adapter" "$out/$case/merged"
  cp -r "$tmp/$case-run/adapter" "$out/$case/adapter"
  sed -i "s|\"base_model_name_or_path\": \"[^\"]*\"|\"base_model_name_or_path\": \"tests/fixtures/models/$case\"|" \
    "$out/$case/adapter/adapter_config.json"
  echo "$case" >"$out/$case/base.txt"
  "$slm" logits "tests/fixtures/models/$case" --ids "$ids" --adapter "$out/$case/adapter" --out "$tmp/l.safetensors" >/dev/null
  python3 - "$tmp/l.safetensors" "$out/$case/slm_logits.safetensors" "$ids" <<'PY'
import json, struct, sys
src, dst, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
lg = hdr["logits"]
data = raw[8 + n + lg["data_offsets"][0]:8 + n + lg["data_offsets"][1]]
idb = struct.pack("<%di" % len(ids), *ids)
h = {"input_ids": {"dtype": "I32", "shape": [len(ids)], "data_offsets": [0, len(idb)]},
     "logits": {"dtype": "F32", "shape": lg["shape"], "data_offsets": [len(idb), len(idb) + len(data)]}}
hj = json.dumps(h, separators=(",", ":")).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
open(dst, "wb").write(struct.pack("<Q", len(hj)) + hj + idb + data)
PY
  "$slm" merge --model "tests/fixtures/models/$case" --adapter "$out/$case/adapter" --out "$out/$case/merged" >/dev/null
done
echo "wrote $out; now run tools/ref/check_peft_loads_slm.py $out on the device machine"
