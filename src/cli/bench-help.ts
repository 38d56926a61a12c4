// The help texts of walt bench and walt profile (shown by --help and `walt help bench|profile`);
// bench-cmds.ts re-exports them.

export const BENCH_HELP = `walt bench <matmul|attention|model|kernels|extract|readout|train> [options]

Every bench: [--json] [--out DIR] [--note TEXT] [--timeout-s S] [--adapter NAME]. --note: a line for
the top of the markdown result file (e.g. the machine's load). --json: stdout carries only the
result rows, one JSON object per line; progress ([i/n] …, time left) and messages go to stderr.
Ctrl-C or --timeout-s S stops at the next measurement and still prints and writes the rows measured
so far (exit 130, or 124 on a timeout; a second Ctrl-C writes them at once). A sweep in which every
case is skipped exits 1. --out DIR writes DIR/<bench>-<date>.jsonl and .md (+ .svg/.png charts).

Scopes (matmul, attention): every row has scope "host" (upload of the inputs, compute, download of
the output, as a library caller sees it) or "device" (inputs resident, output left on the GPU,
submit to completion). walt and walt-naive: both; tfjs-webgpu: both; ort-webgpu(-ops): both (IO
binding; completion by a one-element readback); ort-cpu: host. walt_x = ms / walt's ms of the same
case and scope. ms (median) and ms_min (best) come from the same number of timed runs (reps) for
every implementation of a case: enough for --min-time-ms of ours (3…30), or --reps N. gpu_ms (GPU
timestamps, ours) is measured in runs of its own.

walt bench matmul [--sizes 256,512,1024,2048] [--dtype f32|f16] [--reps N] [--min-time-ms 1500]
                  [--peers tfjs-webgpu,ort-webgpu,ort-cpu | --peers none]
  M=N=K products through walt and, in the same process on the same adapter, the peers. Every
  result is checked against float64 values (8 rows of C) before its time counts (ok, err). Rows:
  impl, scope, m, n, k, dtype, ms, ms_min, reps, gpu_ms, gflops, walt_x, ok, err, first_ms (cold,
  compilation included), variant, adapter, software, date, commit. --out: matmul-<dtype>-<date>.*

walt bench attention [--quick] [--windows 1x16x16,5x4x4,5x8x8,5x16x16,full] [--latent 5x16x16]
                     [--heads 16] [--head-dim 64,72,80,96,104,112,128] [--batch 1] [--dtype f32,f16]
                     [--peers tfjs-webgpu,ort-webgpu,ort-webgpu-ops | --peers none]
                     [--rounds 1] [--reps N] [--min-time-ms 1500] [--matmul-size N]
  Fused windowed attention (walt), our unfused three-pass baseline (walt-naive) and the peers in
  the same process on the same adapter: attention composed from tfjs-webgpu ops, onnxruntime's
  WebGPU MultiHeadAttention (ort-webgpu) and its plain-op graph (ort-webgpu-ops). Every result is
  checked against float64 values on sampled (window, head) pairs: err = max|Δ|/max|ref|; ok when
  err ≤ 1e-5 (ours, f32), 1e-2 (ours, f16), 5e-2 (peers); a row that fails still counts for speed.
  gflops = 4·N·N_w·head_dim·heads / ms; gb_s counts q, k, v and o once; matmul_share = gflops /
  our matmul GFLOP/s at N³ in the same scope, measured first (N = --matmul-size: 1024 on a
  software adapter, 4096 on a GPU). --quick: head dim 64, 16 heads, both dtypes where supported.
  --rounds R times every case R times in turn (fairer on a shared machine). --out:
  attention-<date>.{jsonl,md,svg,png}.

walt bench model --config L [--dtype f32,f16] [--frames 17 --size 128] [--warmup N] [--reps N]
                 [--torch] [--json] [--out DIR] [--adapter NAME]
  ms per clip of the encoder and the denoiser apart (and together), GFLOP/s from the FLOPs of
  spec §3.5/§4.12, peak GPU memory (weights + activations). Random weights. --torch adds the
  PyTorch reference (tools/reference, /usr/bin/python3) on this machine. On a software adapter
  the defaults are --warmup 0 --reps 1 (one L clip takes 15–30 minutes there: run it in the
  background, e.g. nohup … &).

walt bench kernels [--full] [--train] [--max-time-s 2] [--json] [--out DIR] [--adapter NAME]
  Per-family microbenchmarks (benny): matmul, conv3d, attention in GFLOP/s; layernorm,
  groupnorm, elementwise, softmax, reduce, patchify, adaln in GB/s. --full uses L-model sizes.
  --train: the training kernels instead (linear backward, colsum, norm-train, cross-attention,
  activation gradients, losses, posenc, Fourier features, AdamW; --full at the study's head sizes).

walt bench readout --head NAME [--batch 8] [--reps N] [--grid 32x32] [--form fast|direct]
  One training step of a readout head (forward, backward, AdamW) on random features and targets
  of its sizes (T 17, N 256): ms, samples/s, GFLOP/s of the step's dominant products, and the
  step's loss and grad_norm from the same initial weights. Single-query heads (the classifiers,
  camera-pose) run two rows in one process: walt (the fast form: keys and values never formed)
  and walt-direct (the generic cross-attention path); their loss and grad_norm agree. A batch
  larger than a storage binding (K400 at batch 8: 136 MiB of features) is split into micro-batches.

walt bench train [--clips 16] [--steps 20] [--batch 8] [--grid 32x32] [--sweep 1e-4,3e-4,1e-3|none]
  Training steps per second of every readout head through the whole walt train-readout loop
  (batches from a worker thread, forward, backward, AdamW) on data made on the spot: walt synth
  clips of each task (64 × 64, 17 frames), one test-tiny extraction (t 200, block 2). One row per
  task (lr 3e-4) and a sweep row: the attention head at every --sweep rate in one pass (each batch
  read once). --out: train-<date>.{jsonl,md,svg,png}. About 3 minutes on a software adapter.

walt bench extract [--config test-tiny|L] [--compute f32|f16] [--torch] [--json] [--out DIR]
  The extraction job on a generated sample (6 videos): clips/s and frames/s, time in decode,
  encoder, denoiser (+ readback) and write; --torch adds the PyTorch reference's model time per
  clip on this machine. L on a software adapter takes hours: run it in the background.
`;

export const PROFILE_HELP = `walt profile --config NAME [--windows 5x4x4,5x8x8,5x16x16,full] [--dtype f32|f16]
             [--reps 3] [--warmup 1] [--no-encoder] [--json] [--out DIR] [--adapter NAME]

1. One forward pass (encoder + denoiser) with a GPU timestamp around every dispatch, grouped by
   kernel family (conv3d, groupnorm, matmul, attention, norms, elementwise) and by layer kind
   (encoder, spatial, spatiotemporal, denoiser other).
2. The window-size tradeoff of the W.A.L.T paper's Table 3b: for each spatiotemporal window
   (windows that do not tile the latent are skipped), denoiser passes per second, relative to
   full attention, attention's share of GPU time, FLOPs (spec §4.12), GFLOP/s, peak memory.
Random weights. Tables on stdout (JSON lines with --json); --out DIR writes them with a chart
(profile-<config>-tradeoff-<date>.svg/.png). --reps: timed passes per window, median reported
(default 3; on a software adapter 5, or 1 for models above 50 GFLOP per pass). --warmup: untimed
passes first (default 1; 0 on a software adapter for models above 50 GFLOP per pass, such as L:
run those in the background).
`;
