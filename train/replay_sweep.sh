#!/bin/bash
# GPU replays of CPU recipes (train.py --sim-clock): one VAE stage (or SRC=a run dir with a finished one), then
# several UNet recipes on it at once under MPS, each scored by replay_eval.py. Usage:
#   OUT=dir train/replay_sweep.sh END_S VAE_MINUTES VARIANTS_FILE   (a line per variant: name train.py-arguments;
#   docs/experiments/2026-11-28-replay-variants.txt is an example)
# END_S: seconds after the start at which unfinished runs stop and are scored from their last checkpoint.
cd "$(dirname "$0")/.."
export SD_NATIVE_BPE=$PWD/native/data/bpe_simple_vocab_16e6.txt.gz PYTHONUNBUFFERED=1
END=${1:-470}; VARIANTS=${3:?VARIANTS_FILE: a line per variant, name then train.py arguments}
G=train; R=/tmp/g; S=$R/vae; mkdir -p $R
nvidia-smi -L; python3 -c "import torch;print(torch.__version__, torch.cuda.is_available())"
nvidia-cuda-mps-control -d && echo mps on
if [ -n "$SRC" ]; then S=$SRC; else
python3 $G/train.py --out $S --device cuda --sim-clock --procs 1 --threads 4 --vae-minutes ${2:-24} \
  --unet-minutes 0 --text-phase-minutes 0 --no-finish > $R/vae.out 2>&1 || { tail -40 $R/vae.out; exit 1; }
grep -v 'vae step' $S/log.txt | cut -c1-300; grep 'vae step' $S/log.txt | tail -2; echo "vae stage: $SECONDS s"; fi
common="--vae-from $S --vae-minutes ${2:-24} --device cuda --sim-clock --procs 1 --threads 1 --no-finish --ckpt-minutes 1"
start() { local name=$1; shift; echo "$name: $*" >> $R/variants.txt
  ( python3 $G/train.py --out $R/$name $common "$@" > $R/$name.out 2>&1 ) & echo $! > $R/$name.pid; }
mkdir -p "$OUT"
while read -r name args; do [ -n "$name" ] && start $name $args; done < "$VARIANTS"
t0=$SECONDS
while [ $SECONDS -lt $END ]; do
  alive=0; for p in $R/*.pid; do kill -0 $(cat $p) 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 5
done
echo "training ended after $((SECONDS - t0)) s"
pkill -f "$G/train.py" ; sleep 2
for p in $R/*.pid; do n=$(basename $p .pid); ( python3 $G/replay_eval.py $R/$n > $R/$n.eval 2>&1 ) & done; wait
{ cat $R/variants.txt; grep -v 'vae step' $S/log.txt 2>/dev/null | cut -c1-300; for p in $R/*.pid; do n=$(basename $p .pid); echo "== $n"; cat $R/$n.eval | tail -3
  grep -v 'unet step\|vae step' $R/$n/log.txt | cut -c1-200 | tail -14; grep 'unet step' $R/$n/log.txt | tail -1 | cut -c1-160; done; } > $OUT/summary.txt
tar czf $OUT/logs.tgz -C $R $(cd $R && ls -d */log.txt */losses.csv *.out variants.txt 2>/dev/null)
cat $OUT/summary.txt
