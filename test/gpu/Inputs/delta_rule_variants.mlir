// The delta-rule kernel variants the GPU tests run (compiled by deltac into
// the test package): forward for bf16/fp16, dk and dv in {64, 128, 256},
// q/k L2 norm on and off, chunk 64 (and 32, 128; fp16 and chunk 32 at dk 256
// for the split register scan); decode steps likewise, plus one decode
// step of odd sizes (dk 144: a thread's last state row may fall off the end;
// dv 48: a narrower block than asked for).
// Regenerate by hand when the set changes; each function is independent.
module {
  func.func @fwd_bf16_64x64_c64_l2(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x64x64xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x64x64xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
    return %o, %f : tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
  }
  func.func @fwd_bf16_64x128_c64_l2(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x64x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x64x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x64x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x64x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x64x128xf32>
  }
  func.func @fwd_bf16_64x256_c64_l2(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x256xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x64x256xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x256xbf16>, tensor<?x?x64x256xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x64x256xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x256xbf16>, tensor<?x?x64x256xf32>
    return %o, %f : tensor<?x?x?x256xbf16>, tensor<?x?x64x256xf32>
  }
  func.func @fwd_bf16_128x64_c64_l2(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x128x64xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x128x64xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x64xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x64xbf16>, tensor<?x?x128x64xf32>
    return %o, %f : tensor<?x?x?x64xbf16>, tensor<?x?x128x64xf32>
  }
  func.func @fwd_bf16_128x128_c64_l2(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x128x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
  func.func @fwd_bf16_128x256_c64_l2(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x256xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x128x256xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x256xbf16>, tensor<?x?x128x256xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x256xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x256xbf16>, tensor<?x?x128x256xf32>
    return %o, %f : tensor<?x?x?x256xbf16>, tensor<?x?x128x256xf32>
  }
  func.func @fwd_bf16_256x64_c64_l2(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x256x64xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x256x64xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x256x64xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x64xbf16>, tensor<?x?x256x64xf32>
    return %o, %f : tensor<?x?x?x64xbf16>, tensor<?x?x256x64xf32>
  }
  func.func @fwd_bf16_256x128_c64_l2(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x256x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x256x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x256x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x256x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x256x128xf32>
  }
  func.func @fwd_bf16_256x256_c64_l2(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x256x256xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x256x256xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>
    return %o, %f : tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>
  }
  func.func @fwd_bf16_128x128_c64(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x128x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x128xf32>) cu_seqlens(%cu : tensor<?xi64>) : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
  func.func @fwd_f16_128x128_c64_l2(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>, %b: tensor<?x?x?xf16>, %s: tensor<?x?x128x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?xf16> -> tensor<?x?x?x128xf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x?x128xf16>, tensor<?x?x128x128xf32>
  }
  func.func @fwd_f16_64x256_c64(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, %v: tensor<?x?x?x256xf16>, %b: tensor<?x?x?xf16>, %s: tensor<?x?x64x256xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x256xf16>, tensor<?x?x64x256xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x64x256xf32>) cu_seqlens(%cu : tensor<?xi64>) : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x256xf16>, tensor<?x?x?xf16> -> tensor<?x?x?x256xf16>, tensor<?x?x64x256xf32>
    return %o, %f : tensor<?x?x?x256xf16>, tensor<?x?x64x256xf32>
  }
  func.func @fwd_bf16_64x64_c32_l2(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x64x64xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x64x64xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm, chunk_size = 32 : i64} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
    return %o, %f : tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
  }
  func.func @fwd_f16_256x128_c64_l2(%q: tensor<?x?x?x256xf16>, %k: tensor<?x?x?x256xf16>, %v: tensor<?x?x?x128xf16>, %b: tensor<?x?x?xf16>, %s: tensor<?x?x256x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xf16>, tensor<?x?x256x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x256x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x256xf16>, tensor<?x?x?x256xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?xf16> -> tensor<?x?x?x128xf16>, tensor<?x?x256x128xf32>
    return %o, %f : tensor<?x?x?x128xf16>, tensor<?x?x256x128xf32>
  }
  func.func @fwd_bf16_256x128_c32_l2(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x256x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x256x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x256x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm, chunk_size = 32 : i64} : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x256x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x256x128xf32>
  }
  func.func @fwd_f16_32x32_c128_l2(%q: tensor<?x?x?x32xf16>, %k: tensor<?x?x?x32xf16>, %v: tensor<?x?x?x32xf16>, %b: tensor<?x?x?xf16>, %s: tensor<?x?x32x32xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x32xf16>, tensor<?x?x32x32xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x32x32xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm, chunk_size = 128 : i64} : tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>, tensor<?x?x?xf16> -> tensor<?x?x?x32xf16>, tensor<?x?x32x32xf32>
    return %o, %f : tensor<?x?x?x32xf16>, tensor<?x?x32x32xf32>
  }
  func.func @decode_bf16_64x64_l2(%q: tensor<?x?x64xbf16>, %k: tensor<?x?x64xbf16>, %v: tensor<?x?x64xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x64x64xf32>) -> (tensor<?x?x64xbf16>, tensor<?x?x64x64xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x64xbf16>, tensor<?x?x64xbf16>, tensor<?x?x64xbf16>, tensor<?x?xbf16>, tensor<?x?x64x64xf32> -> tensor<?x?x64xbf16>, tensor<?x?x64x64xf32>
    return %o, %f : tensor<?x?x64xbf16>, tensor<?x?x64x64xf32>
  }
  func.func @decode_bf16_64x128_l2(%q: tensor<?x?x64xbf16>, %k: tensor<?x?x64xbf16>, %v: tensor<?x?x128xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x64x128xf32>) -> (tensor<?x?x128xbf16>, tensor<?x?x64x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x64xbf16>, tensor<?x?x64xbf16>, tensor<?x?x128xbf16>, tensor<?x?xbf16>, tensor<?x?x64x128xf32> -> tensor<?x?x128xbf16>, tensor<?x?x64x128xf32>
    return %o, %f : tensor<?x?x128xbf16>, tensor<?x?x64x128xf32>
  }
  func.func @decode_bf16_64x256_l2(%q: tensor<?x?x64xbf16>, %k: tensor<?x?x64xbf16>, %v: tensor<?x?x256xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x64x256xf32>) -> (tensor<?x?x256xbf16>, tensor<?x?x64x256xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x64xbf16>, tensor<?x?x64xbf16>, tensor<?x?x256xbf16>, tensor<?x?xbf16>, tensor<?x?x64x256xf32> -> tensor<?x?x256xbf16>, tensor<?x?x64x256xf32>
    return %o, %f : tensor<?x?x256xbf16>, tensor<?x?x64x256xf32>
  }
  func.func @decode_bf16_128x64_l2(%q: tensor<?x?x128xbf16>, %k: tensor<?x?x128xbf16>, %v: tensor<?x?x64xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x128x64xf32>) -> (tensor<?x?x64xbf16>, tensor<?x?x128x64xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x64xbf16>, tensor<?x?xbf16>, tensor<?x?x128x64xf32> -> tensor<?x?x64xbf16>, tensor<?x?x128x64xf32>
    return %o, %f : tensor<?x?x64xbf16>, tensor<?x?x128x64xf32>
  }
  func.func @decode_bf16_128x128_l2(%q: tensor<?x?x128xbf16>, %k: tensor<?x?x128xbf16>, %v: tensor<?x?x128xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x128x128xf32>) -> (tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?xbf16>, tensor<?x?x128x128xf32> -> tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
  func.func @decode_bf16_128x256_l2(%q: tensor<?x?x128xbf16>, %k: tensor<?x?x128xbf16>, %v: tensor<?x?x256xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x128x256xf32>) -> (tensor<?x?x256xbf16>, tensor<?x?x128x256xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x256xbf16>, tensor<?x?xbf16>, tensor<?x?x128x256xf32> -> tensor<?x?x256xbf16>, tensor<?x?x128x256xf32>
    return %o, %f : tensor<?x?x256xbf16>, tensor<?x?x128x256xf32>
  }
  func.func @decode_bf16_256x64_l2(%q: tensor<?x?x256xbf16>, %k: tensor<?x?x256xbf16>, %v: tensor<?x?x64xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x256x64xf32>) -> (tensor<?x?x64xbf16>, tensor<?x?x256x64xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x256xbf16>, tensor<?x?x256xbf16>, tensor<?x?x64xbf16>, tensor<?x?xbf16>, tensor<?x?x256x64xf32> -> tensor<?x?x64xbf16>, tensor<?x?x256x64xf32>
    return %o, %f : tensor<?x?x64xbf16>, tensor<?x?x256x64xf32>
  }
  func.func @decode_bf16_256x128_l2(%q: tensor<?x?x256xbf16>, %k: tensor<?x?x256xbf16>, %v: tensor<?x?x128xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x256x128xf32>) -> (tensor<?x?x128xbf16>, tensor<?x?x256x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x256xbf16>, tensor<?x?x256xbf16>, tensor<?x?x128xbf16>, tensor<?x?xbf16>, tensor<?x?x256x128xf32> -> tensor<?x?x128xbf16>, tensor<?x?x256x128xf32>
    return %o, %f : tensor<?x?x128xbf16>, tensor<?x?x256x128xf32>
  }
  func.func @decode_bf16_256x256_l2(%q: tensor<?x?x256xbf16>, %k: tensor<?x?x256xbf16>, %v: tensor<?x?x256xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x256x256xf32>) -> (tensor<?x?x256xbf16>, tensor<?x?x256x256xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x256xbf16>, tensor<?x?x256xbf16>, tensor<?x?x256xbf16>, tensor<?x?xbf16>, tensor<?x?x256x256xf32> -> tensor<?x?x256xbf16>, tensor<?x?x256x256xf32>
    return %o, %f : tensor<?x?x256xbf16>, tensor<?x?x256x256xf32>
  }
  func.func @decode_bf16_128x128(%q: tensor<?x?x128xbf16>, %k: tensor<?x?x128xbf16>, %v: tensor<?x?x128xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x128x128xf32>) -> (tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?xbf16>, tensor<?x?x128x128xf32> -> tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
  func.func @decode_f16_128x128_l2(%q: tensor<?x?x128xf16>, %k: tensor<?x?x128xf16>, %v: tensor<?x?x128xf16>, %b: tensor<?x?xf16>, %s: tensor<?x?x128x128xf32>) -> (tensor<?x?x128xf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x128xf16>, tensor<?x?x128xf16>, tensor<?x?x128xf16>, tensor<?x?xf16>, tensor<?x?x128x128xf32> -> tensor<?x?x128xf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x128xf16>, tensor<?x?x128x128xf32>
  }
  func.func @decode_bf16_144x48_l2(%q: tensor<?x?x144xbf16>, %k: tensor<?x?x144xbf16>, %v: tensor<?x?x48xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x144x48xf32>) -> (tensor<?x?x48xbf16>, tensor<?x?x144x48xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x144xbf16>, tensor<?x?x144xbf16>, tensor<?x?x48xbf16>, tensor<?x?xbf16>, tensor<?x?x144x48xf32> -> tensor<?x?x48xbf16>, tensor<?x?x144x48xf32>
    return %o, %f : tensor<?x?x48xbf16>, tensor<?x?x144x48xf32>
  }
}
