// Every verifier message of the `delta` ops, one case per split.
// RUN: delta-opt %s -split-input-file -verify-diagnostics

func.func @case0(%q: tensor<2x8x64xbf16>, %k: tensor<2x8x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'q' must have rank 4 [B, T, H, dk], got rank 3}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case1(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x32xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'k' dimension 3 (dk) is 32, expected 64 (from 'q')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case2(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x9x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'k' dimension 1 (T) is 9, expected 8 (from 'q')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x9x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case3(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<3x8x4x32xbf16>, %b: tensor<3x8x4xbf16>) {
  // expected-error @+1 {{'v' dimension 0 (B) is 3, expected 2 (from 'q')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<3x8x4x32xbf16>, tensor<3x8x4xbf16> -> tensor<3x8x4x32xbf16>, tensor<3x4x64x32xf32>
  return
}

// -----

func.func @case4(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x6x32xbf16>, %b: tensor<2x8x6xbf16>) {
  // expected-error @+1 {{the number of value heads ('v' dimension 2, 6) must be a multiple of the number of q/k heads ('q' dimension 2, 4)}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x6x32xbf16>, tensor<2x8x6xbf16> -> tensor<2x8x6x32xbf16>, tensor<2x6x64x32xf32>
  return
}

// -----

func.func @case5(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x2xbf16>) {
  // expected-error @+1 {{'beta' dimension 2 (HV) is 2, expected 4 (from 'v')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x2xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case6(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4x1xbf16>) {
  // expected-error @+1 {{'beta' must have rank 3 [B, T, HV], got rank 4}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4x1xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case7(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'k' element type 'f16' differs from 'q' element type 'bf16'}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case8(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'chunk_size' must be one of 16, 32, 64, 128, got 48}}
  %o, %s = delta.delta_rule %q, %k, %v, %b {chunk_size = 48 : i64} : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case9(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'scale' must be a positive finite number, got -1}}
  %o, %s = delta.delta_rule %q, %k, %v, %b {scale = -1.0 : f32} : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case10(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'final_state' dimension 3 (dv) is 64, expected 32 (from 'v')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x64xf32>
  return
}

// -----

func.func @case11(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'final_state' dimension 0 (N) is 3, expected 2 (from 'q' (batch))}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<3x4x64x32xf32>
  return
}

// -----

func.func @case12(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>, %s0: tensor<2x4x32x32xf32>) {
  // expected-error @+1 {{'initial_state' dimension 2 (dk) is 32, expected 64 (from 'q')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b initial_state(%s0 : tensor<2x4x32x32xf32>) : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case13(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>, %s0: tensor<2x4x64xf32>) {
  // expected-error @+1 {{'initial_state' must have rank 4 [N, HV, dk, dv], got rank 3}}
  %o, %s = delta.delta_rule %q, %k, %v, %b initial_state(%s0 : tensor<2x4x64xf32>) : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case14(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'o' dimension 3 (dv) is 16, expected 32 (from 'v')}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x16xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case15(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'o' element type 'f32' differs from 'v' element type 'bf16'}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xf32>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case16(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>, %cu: tensor<3xi64>) {
  // expected-error @+1 {{'q' dimension 0 (batch) must be 1 when 'cu_seqlens' is given, got 2}}
  %o, %s = delta.delta_rule %q, %k, %v, %b cu_seqlens(%cu : tensor<3xi64>) : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case17(%q: tensor<1x8x4x64xbf16>, %k: tensor<1x8x4x64xbf16>, %v: tensor<1x8x4x32xbf16>, %b: tensor<1x8x4xbf16>, %cu: tensor<1xi64>) {
  // expected-error @+1 {{'cu_seqlens' dimension 0 must hold at least 2 offsets (N + 1 with N >= 1), got 1}}
  %o, %s = delta.delta_rule %q, %k, %v, %b cu_seqlens(%cu : tensor<1xi64>) : tensor<1x8x4x64xbf16>, tensor<1x8x4x64xbf16>, tensor<1x8x4x32xbf16>, tensor<1x8x4xbf16> -> tensor<1x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case18(%q: tensor<1x8x4x64xbf16>, %k: tensor<1x8x4x64xbf16>, %v: tensor<1x8x4x32xbf16>, %b: tensor<1x8x4xbf16>, %cu: tensor<3x1xi64>) {
  // expected-error @+1 {{'cu_seqlens' must have rank 1 [N + 1], got rank 2}}
  %o, %s = delta.delta_rule %q, %k, %v, %b cu_seqlens(%cu : tensor<3x1xi64>) : tensor<1x8x4x64xbf16>, tensor<1x8x4x64xbf16>, tensor<1x8x4x32xbf16>, tensor<1x8x4xbf16> -> tensor<1x8x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @case19(%q: tensor<1x8x4x64xbf16>, %k: tensor<1x8x4x64xbf16>, %v: tensor<1x8x4x32xbf16>, %b: tensor<1x8x4xbf16>, %cu: tensor<3xi64>) {
  // expected-error @+1 {{'final_state' dimension 0 (N) is 3, expected 2 (from 'cu_seqlens' (N + 1 offsets))}}
  %o, %s = delta.delta_rule %q, %k, %v, %b cu_seqlens(%cu : tensor<3xi64>) : tensor<1x8x4x64xbf16>, tensor<1x8x4x64xbf16>, tensor<1x8x4x32xbf16>, tensor<1x8x4xbf16> -> tensor<1x8x4x32xbf16>, tensor<3x4x64x32xf32>
  return
}

// -----

func.func @case20(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x32xbf16>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit float values}}
  %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x32xbf16>, tensor<2x8x4xbf16> -> tensor<2x8x4x32xbf16>, tensor<2x4x64x32xbf16>
  return
}

// -----

func.func @case21(%q: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x64xbf16>, %g: tensor<2x7x4xf32>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'g' dimension 1 (T) is 7, expected 8 (from 'q')}}
  %o, %s = delta.gated_delta_rule %q, %q, %v, %g, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x7x4xf32>, tensor<2x8x4xbf16> -> tensor<2x8x4x64xbf16>, tensor<2x4x64x64xf32>
  return
}

// -----

func.func @case22(%q: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x64xbf16>, %g: tensor<2x8xf32>, %b: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'g' must have rank 3 [B, T, HV], got rank 2}}
  %o, %s = delta.gated_delta_rule %q, %q, %v, %g, %b : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8xf32>, tensor<2x8x4xbf16> -> tensor<2x8x4x64xbf16>, tensor<2x4x64x64xf32>
  return
}

// -----

func.func @case23(%x: tensor<8x256xbf16>, %w: tensor<256x4xbf16>) {
  // expected-error @+1 {{'x' must have rank 3 [B, T, D], got rank 2}}
  %y, %s = delta.short_conv %x, %w : tensor<8x256xbf16>, tensor<256x4xbf16> -> tensor<8x256xbf16>, tensor<2x256x3xf32>
  return
}

// -----

func.func @case24(%x: tensor<2x8x256xbf16>, %w: tensor<128x4xbf16>) {
  // expected-error @+1 {{'weight' dimension 0 (D) is 128, expected 256 (from 'x')}}
  %y, %s = delta.short_conv %x, %w : tensor<2x8x256xbf16>, tensor<128x4xbf16> -> tensor<2x8x256xbf16>, tensor<2x256x3xf32>
  return
}

// -----

func.func @case25(%x: tensor<2x8x256xbf16>, %w: tensor<256x0xbf16>) {
  // expected-error @+1 {{'weight' dimension 1 (K, the kernel size) must be at least 1, got 0}}
  %y, %s = delta.short_conv %x, %w : tensor<2x8x256xbf16>, tensor<256x0xbf16> -> tensor<2x8x256xbf16>, tensor<2x256x0xf32>
  return
}

// -----

func.func @case26(%x: tensor<2x8x256xbf16>, %w: tensor<256x4xbf16>) {
  // expected-error @+1 {{'final_state' dimension 2 (K - 1) is 4, expected 3 (from 'weight')}}
  %y, %s = delta.short_conv %x, %w : tensor<2x8x256xbf16>, tensor<256x4xbf16> -> tensor<2x8x256xbf16>, tensor<2x256x4xf32>
  return
}

// -----

func.func @case27(%x: tensor<2x8x256xbf16>, %w: tensor<256x4xbf16>, %s0: tensor<2x128x3xf32>) {
  // expected-error @+1 {{'initial_state' dimension 1 (D) is 128, expected 256 (from 'x')}}
  %y, %s = delta.short_conv %x, %w initial_state(%s0 : tensor<2x128x3xf32>) : tensor<2x8x256xbf16>, tensor<256x4xbf16> -> tensor<2x8x256xbf16>, tensor<2x256x3xf32>
  return
}

// -----

func.func @case28(%x: tensor<2x8x256xbf16>, %w: tensor<256x4xbf16>) {
  // expected-error @+1 {{'y' dimension 1 (T) is 9, expected 8 (from 'x')}}
  %y, %s = delta.short_conv %x, %w : tensor<2x8x256xbf16>, tensor<256x4xbf16> -> tensor<2x9x256xbf16>, tensor<2x256x3xf32>
  return
}

// -----

func.func @case29(%x: tensor<2x8x256xbf16>, %w: tensor<256x4xbf16>, %cu: tensor<3xi64>) {
  // expected-error @+1 {{'x' dimension 0 (batch) must be 1 when 'cu_seqlens' is given, got 2}}
  %y, %s = delta.short_conv %x, %w cu_seqlens(%cu : tensor<3xi64>) : tensor<2x8x256xbf16>, tensor<256x4xbf16> -> tensor<2x8x256xbf16>, tensor<2x256x3xf32>
  return
}

// -----

func.func @case30(%x: tensor<2x8x256xbf16>, %w: tensor<128xbf16>) {
  // expected-error @+1 {{'weight' dimension 0 (D) is 128, expected 256 (from the last dimension of 'x')}}
  %y = delta.rms_norm %x, %w : tensor<2x8x256xbf16>, tensor<128xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case31(%x: tensor<2x8x256xbf16>, %w: tensor<256x1xbf16>) {
  // expected-error @+1 {{'weight' must have rank 1 [D], got rank 2}}
  %y = delta.rms_norm %x, %w : tensor<2x8x256xbf16>, tensor<256x1xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case32(%x: tensor<bf16>, %w: tensor<1xbf16>) {
  // expected-error @+1 {{'x' must have rank >= 1, got rank 0}}
  %y = delta.rms_norm %x, %w : tensor<bf16>, tensor<1xbf16> -> tensor<bf16>
  return
}

// -----

func.func @case33(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>) {
  // expected-error @+1 {{'y' must have rank 3 (the rank of 'x'), got rank 2}}
  %y = delta.rms_norm %x, %w : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<16x256xbf16>
  return
}

// -----

func.func @case34(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>) {
  // expected-error @+1 {{'y' dimension 0 (shape of x) is 4, expected 2 (from 'x')}}
  %y = delta.rms_norm %x, %w : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<4x8x256xbf16>
  return
}

// -----

func.func @case35(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>) {
  // expected-error @+1 {{'y' element type 'f32' differs from 'x' element type 'bf16'}}
  %y = delta.rms_norm %x, %w : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<2x8x256xf32>
  return
}

// -----

func.func @case36(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>, %g: tensor<2x8x128xbf16>) {
  // expected-error @+1 {{'gate' dimension 2 (shape of x) is 128, expected 256 (from 'x')}}
  %y = delta.rms_norm %x, %w gate(%g : tensor<2x8x128xbf16>) : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case37(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>, %g: tensor<2x256xbf16>) {
  // expected-error @+1 {{'gate' must have rank 3 (the rank of 'x'), got rank 2}}
  %y = delta.rms_norm %x, %w gate(%g : tensor<2x256xbf16>) : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case38(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>) {
  // expected-error @+1 {{'eps' must be a positive finite number, got 0}}
  %y = delta.rms_norm %x, %w {eps = 0.0 : f32} : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case39(%x: tensor<f32>) {
  // expected-error @+1 {{'x' must have rank >= 1, got rank 0}}
  %y = delta.l2_norm %x : tensor<f32>
  return
}

// -----

func.func @case40(%x: tensor<4xf32>) {
  // expected-error @+1 {{'eps' must be a positive finite number, got -1}}
  %y = delta.l2_norm %x {eps = -1.0 : f32} : tensor<4xf32>
  return
}

// -----

func.func @case41(%x: tensor<4xf32>) {
  // expected-error @+2 {{expected ::deltajit::delta::ActivationKind to be one of: silu, sigmoid}}
  // expected-error @+1 {{failed to parse Delta_ActivationKindAttr parameter 'value'}}
  %y = delta.activation relu %x : tensor<4xf32>
  return
}

// -----

func.func @case42(%q: tensor<2x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'q' must have rank 4 [B, T, H, d], got rank 3}}
  %o = delta.attention %q, %k, %v : tensor<2x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x64xbf16>
  return
}

// -----

func.func @case43(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x3x64xbf16>, %v: tensor<2x8x3x64xbf16>) {
  // expected-error @+1 {{the number of query heads ('q' dimension 2, 8) must be a multiple of the number of KV heads ('k' dimension 2, 3)}}
  %o = delta.attention %q, %k, %v : tensor<2x8x8x64xbf16>, tensor<2x8x3x64xbf16>, tensor<2x8x3x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case44(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x32xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'k' dimension 3 (d) is 32, expected 64 (from 'q')}}
  %o = delta.attention %q, %k, %v : tensor<2x8x8x64xbf16>, tensor<2x8x2x32xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case45(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x4x64xbf16>) {
  // expected-error @+1 {{'v' dimension 2 (HKV) is 4, expected 2 (from 'k')}}
  %o = delta.attention %q, %k, %v : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x4x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case46(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'o' dimension 2 (H) is 4, expected 8 (from 'q')}}
  %o = delta.attention %q, %k, %v : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x4x64xbf16>
  return
}

// -----

func.func @case47(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'o' element type 'f32' differs from 'q' element type 'bf16'}}
  %o = delta.attention %q, %k, %v : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xf32>
  return
}

// -----

func.func @case48(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'window_size' must be at least 1, got 0}}
  %o = delta.attention %q, %k, %v {window_size = 0 : i64} : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case49(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'scale' must be a positive finite number, got 0}}
  %o = delta.attention %q, %k, %v {scale = 0.0 : f32} : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case50(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{'rope_theta' must be a positive finite number, got -5}}
  %o = delta.attention %q, %k, %v {rope_theta = -5.0 : f32} : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case51(%q: tensor<2x8x8x63xbf16>, %k: tensor<2x8x2x63xbf16>, %v: tensor<2x8x2x64xbf16>) {
  // expected-error @+1 {{rotary embeddings need an even head dimension ('q' dimension 3), got 63}}
  %o = delta.attention %q, %k, %v {rope_theta = 10000.0 : f32} : tensor<2x8x8x63xbf16>, tensor<2x8x2x63xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case52(%q: tensor<2x8x8x64xbf16>, %k: tensor<2x8x2x64xbf16>, %v: tensor<2x8x2x64xbf16>, %cu: tensor<3xi64>) {
  // expected-error @+1 {{'q' dimension 0 (batch) must be 1 when 'cu_seqlens' is given, got 2}}
  %o = delta.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi64>) : tensor<2x8x8x64xbf16>, tensor<2x8x2x64xbf16>, tensor<2x8x2x64xbf16> -> tensor<2x8x8x64xbf16>
  return
}

// -----

func.func @case53(%x: tensor<2x8x256xbf16>, %w: tensor<512x128xbf16>) {
  // expected-error @+1 {{'weight' dimension 1 (in) is 128, expected 256 (from the last dimension of 'x')}}
  %y = delta.linear %x, %w : tensor<2x8x256xbf16>, tensor<512x128xbf16> -> tensor<2x8x512xbf16>
  return
}

// -----

func.func @case54(%x: tensor<2x8x256xbf16>, %w: tensor<512x256xbf16>) {
  // expected-error @+1 {{'y' dimension 2 (out) is 256, expected 512 (from 'weight' dimension 0)}}
  %y = delta.linear %x, %w : tensor<2x8x256xbf16>, tensor<512x256xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case55(%x: tensor<2x8x256xbf16>, %w: tensor<512x256xbf16>) {
  // expected-error @+1 {{'y' dimension 1 (leading dimension) is 4, expected 8 (from 'x')}}
  %y = delta.linear %x, %w : tensor<2x8x256xbf16>, tensor<512x256xbf16> -> tensor<2x4x512xbf16>
  return
}

// -----

func.func @case56(%x: tensor<2x8x256xbf16>, %w: tensor<512x256x1xbf16>) {
  // expected-error @+1 {{'weight' must have rank 2 [out, in], got rank 3}}
  %y = delta.linear %x, %w : tensor<2x8x256xbf16>, tensor<512x256x1xbf16> -> tensor<2x8x512xbf16>
  return
}

// -----

func.func @case57(%x: tensor<2x8x256xbf16>, %w: tensor<512x256xbf16>) {
  // expected-error @+1 {{'y' must have rank 3 (the rank of 'x'), got rank 2}}
  %y = delta.linear %x, %w : tensor<2x8x256xbf16>, tensor<512x256xbf16> -> tensor<16x512xbf16>
  return
}

// -----

func.func @case58(%x: tensor<2x8x256xbf16>, %w: tensor<512x256xbf16>, %b: tensor<256xbf16>) {
  // expected-error @+1 {{'bias' dimension 0 (out) is 256, expected 512 (from 'weight' dimension 0)}}
  %y = delta.linear %x, %w bias(%b : tensor<256xbf16>) : tensor<2x8x256xbf16>, tensor<512x256xbf16> -> tensor<2x8x512xbf16>
  return
}

// -----

func.func @case59(%x: tensor<bf16>, %w: tensor<512x256xbf16>) {
  // expected-error @+1 {{'x' must have rank >= 1, got rank 0}}
  %y = delta.linear %x, %w : tensor<bf16>, tensor<512x256xbf16> -> tensor<512xbf16>
  return
}

// -----

func.func @case60(%ids: tensor<2x8x1xi64>, %t: tensor<1000x256xbf16>) {
  // expected-error @+1 {{'ids' must have rank 2 [B, T], got rank 3}}
  %y = delta.embedding %ids, %t : tensor<2x8x1xi64>, tensor<1000x256xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @case61(%ids: tensor<2x8xi64>, %t: tensor<1000x256xbf16>) {
  // expected-error @+1 {{'y' dimension 2 (D) is 128, expected 256 (from 'table')}}
  %y = delta.embedding %ids, %t : tensor<2x8xi64>, tensor<1000x256xbf16> -> tensor<2x8x128xbf16>
  return
}

// -----

func.func @case62(%ids: tensor<2x8xi64>, %t: tensor<1000x256xbf16>) {
  // expected-error @+1 {{'y' element type 'f32' differs from 'table' element type 'bf16'}}
  %y = delta.embedding %ids, %t : tensor<2x8xi64>, tensor<1000x256xbf16> -> tensor<2x8x256xf32>
  return
}

// -----

func.func @case63(%ids: tensor<2x8xf32>, %t: tensor<1000x256xbf16>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %y = delta.embedding %ids, %t : tensor<2x8xf32>, tensor<1000x256xbf16> -> tensor<2x8x256xbf16>
  return
}

// -----

func.func @step_heads(%q: tensor<2x4x64xbf16>, %v: tensor<2x6x64xbf16>, %b: tensor<2x6xbf16>, %s: tensor<2x6x64x64xf32>) {
  // expected-error @+1 {{the number of value heads ('v' dimension 1, 6) must be a multiple of the number of q/k heads ('q' dimension 1, 4)}}
  %o, %s1 = delta.delta_rule_step %q, %q, %v, %b, %s : tensor<2x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x6x64xbf16>, tensor<2x6xbf16>, tensor<2x6x64x64xf32> -> tensor<2x6x64xbf16>, tensor<2x6x64x64xf32>
  return
}

// -----

func.func @step_state(%q: tensor<2x4x64xbf16>, %v: tensor<2x4x32xbf16>, %b: tensor<2x4xbf16>, %s: tensor<2x4x64x64xf32>) {
  // expected-error @+1 {{'state' dimension 3 (dv) is 64, expected 32 (from 'v')}}
  %o, %s1 = delta.delta_rule_step %q, %q, %v, %b, %s : tensor<2x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x4x32xbf16>, tensor<2x4xbf16>, tensor<2x4x64x64xf32> -> tensor<2x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @step_rank(%q: tensor<2x1x4x64xbf16>, %v: tensor<2x4x32xbf16>, %b: tensor<2x4xbf16>, %s: tensor<2x4x64x32xf32>) {
  // expected-error @+1 {{'q' must have rank 3 [N, H, dk], got rank 4}}
  %o, %s1 = delta.delta_rule_step %q, %q, %v, %b, %s : tensor<2x1x4x64xbf16>, tensor<2x1x4x64xbf16>, tensor<2x4x32xbf16>, tensor<2x4xbf16>, tensor<2x4x64x32xf32> -> tensor<2x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @step_scale(%q: tensor<2x4x64xbf16>, %v: tensor<2x4x32xbf16>, %b: tensor<2x4xbf16>, %s: tensor<2x4x64x32xf32>) {
  // expected-error @+1 {{'scale' must be a positive finite number, got 0}}
  %o, %s1 = delta.delta_rule_step %q, %q, %v, %b, %s {scale = 0.0 : f32} : tensor<2x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x4x32xbf16>, tensor<2x4xbf16>, tensor<2x4x64x32xf32> -> tensor<2x4x32xbf16>, tensor<2x4x64x32xf32>
  return
}

// -----

func.func @launch_missing_module(%x: tensor<4xf32>) {
  // expected-error @+1 {{kernel container 'nowhere' is not defined in the module}}
  %r = delta.launch @nowhere::@k(%x) {launch = {}} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{'chunk' must be one of 16, 32, 64, 128, got 48}}
func.func @tile_chunk() attributes {t = #delta.tile<chunk = 48, block_v = 64, warps = 4, stages = 1>} {
  return
}

// -----

// expected-error @+1 {{'block_v' must be a multiple of 8 in [8, 256], got 12}}
func.func @tile_block_v() attributes {t = #delta.tile<chunk = 64, block_v = 12, warps = 4, stages = 1>} {
  return
}

// -----

// expected-error @+1 {{'warps' must be one of 1, 2, 4, 8, got 3}}
func.func @tile_warps() attributes {t = #delta.tile<chunk = 64, block_v = 64, warps = 3, stages = 1>} {
  return
}

// -----

// expected-error @+1 {{'stages' must be at least 1, got 0}}
func.func @tile_stages() attributes {t = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 0>} {
  return
}

// -----

func.func @matmul_k(%a: tensor<64x32xbf16>, %b: tensor<64x64xbf16>) {
  // expected-error @+1 {{contraction sizes differ: op(a) is 64x32, op(b) is 64x64}}
  %r = delta.tile_matmul %a, %b : tensor<64x32xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
  return
}

// -----

func.func @matmul_result(%a: tensor<64x32xbf16>, %b: tensor<32x16xbf16>) {
  // expected-error @+1 {{result must be 64x16, got 64x32}}
  %r = delta.tile_matmul %a, %b : tensor<64x32xbf16>, tensor<32x16xbf16> -> tensor<64x32xf32>
  return
}

// -----

func.func @matmul_acc(%a: tensor<64x32xbf16>, %b: tensor<32x16xbf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{'acc' must have the result's shape 64x16}}
  %r = delta.tile_matmul %a, %b acc(%c : tensor<16x16xf32>) : tensor<64x32xbf16>, tensor<32x16xbf16> -> tensor<64x16xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<64xbf16>, %b: tensor<32x16xbf16>) {
  // expected-error @+1 {{operands and result must be 2-D tiles}}
  %r = delta.tile_matmul %a, %b : tensor<64xbf16>, tensor<32x16xbf16> -> tensor<64x16xf32>
  return
}

// -----

func.func @mask_square(%x: tensor<64x32xf32>) {
  // expected-error @+1 {{needs a square 2-D tile, got 'tensor<64x32xf32>'}}
  %r = delta.tile_mask lower %x : tensor<64x32xf32>
  return
}

// -----

func.func @row_scale(%x: tensor<64x64xf32>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'s' must be a vector of one value per row of 'x' (64)}}
  %r = delta.tile_row_scale %x, %s : tensor<64x64xf32>, tensor<32xf32>
  return
}

// -----

func.func @ut_square(%a: tensor<64x32xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{'a' must be a square tile, got 'tensor<64x32xf32>'}}
  %r = delta.tile_ut_transform %a, %b : tensor<64x32xf32>, tensor<64xf32> -> tensor<64x32xf32>
  return
}

// -----

func.func @ut_beta(%a: tensor<64x64xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{'beta' must hold 64 values}}
  %r = delta.tile_ut_transform %a, %b : tensor<64x64xf32>, tensor<32xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @ut_result(%a: tensor<64x64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{result must have the shape of 'a'}}
  %r = delta.tile_ut_transform %a, %b : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x32xbf16>
  return
}

// -----

func.func @convert_shape(%a: tensor<64x32xf32>) {
  // expected-error @+1 {{result must have the shape of 'x' ('tensor<64x32xf32>')}}
  %r = delta.tile_convert %a : tensor<64x32xf32> -> tensor<32x64xbf16>
  return
}

// -----

func.func @ut_block(%a: tensor<64x64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{'block' (24) must divide the tile size 64}}
  %r = delta.tile_ut_transform %a, %b {block = 24 : i64} : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @loop_dynamic_head(%q: tensor<1x8x2x?xbf16>, %v: tensor<1x8x2x64xbf16>, %b: tensor<1x8x2xbf16>, %sc: f32) {
  // expected-error @+1 {{needs static head dimensions (dk = 'q' dimension 3, dv = 'v' dimension 3)}}
  %o, %s = delta.chunk_loop %q, %q, %v, %b scale(%sc) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>} : tensor<1x8x2x?xbf16>, tensor<1x8x2x?xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2xbf16> -> tensor<1x8x2x64xbf16>, tensor<1x2x?x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>, %st: tensor<64x64xf32>, %s1: f32):
    delta.chunk_yield %st, %st : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return
}

// -----

func.func @loop_block_v(%q: tensor<1x8x2x64xbf16>, %v: tensor<1x8x2x96xbf16>, %b: tensor<1x8x2xbf16>, %sc: f32) {
  // expected-error @+1 {{'tile' block_v (64) must divide dv ('v' dimension 3, 96)}}
  %o, %s = delta.chunk_loop %q, %q, %v, %b scale(%sc) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>} : tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2x96xbf16>, tensor<1x8x2xbf16> -> tensor<1x8x2x96xbf16>, tensor<1x2x64x96xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>, %st: tensor<64x64xf32>, %s1: f32):
    delta.chunk_yield %st, %st : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return
}

// -----

func.func @loop_arg_count(%q: tensor<1x8x2x64xbf16>, %b: tensor<1x8x2xbf16>, %sc: f32) {
  // expected-error @+1 {{body must take 6 arguments (q, k, v, beta, state tiles and the scale), got 1}}
  %o, %s = delta.chunk_loop %q, %q, %q, %b scale(%sc) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>} : tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2xbf16> -> tensor<1x8x2x64xbf16>, tensor<1x2x64x64xf32> {
  ^bb0(%st: tensor<64x64xf32>):
    delta.chunk_yield %st, %st : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return
}

// -----

func.func @loop_arg_type(%q: tensor<1x8x2x64xbf16>, %b: tensor<1x8x2xbf16>, %sc: f32) {
  // expected-error @+1 {{body argument #3 (beta tile) must be 'tensor<64xf32>', got 'tensor<64xbf16>'}}
  %o, %s = delta.chunk_loop %q, %q, %q, %b scale(%sc) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>} : tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2xbf16> -> tensor<1x8x2x64xbf16>, tensor<1x2x64x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xbf16>, %st: tensor<64x64xf32>, %s1: f32):
    delta.chunk_yield %st, %st : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return
}

// -----

func.func @loop_yield_output(%q: tensor<1x8x2x64xbf16>, %b: tensor<1x8x2xbf16>, %sc: f32) {
  %o, %s = delta.chunk_loop %q, %q, %q, %b scale(%sc) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>} : tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2xbf16> -> tensor<1x8x2x64xbf16>, tensor<1x2x64x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>, %st: tensor<64x64xf32>, %s1: f32):
    // expected-error @+1 {{output tile must be 64x64 (chunk x block_v), got 'tensor<64xf32>'}}
    delta.chunk_yield %bc, %st : tensor<64xf32>, tensor<64x64xf32>
  }
  return
}

// -----

func.func @loop_yield_state(%q: tensor<1x8x2x64xbf16>, %b: tensor<1x8x2xbf16>, %sc: f32) {
  %o, %s = delta.chunk_loop %q, %q, %q, %b scale(%sc) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>} : tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2x64xbf16>, tensor<1x8x2xbf16> -> tensor<1x8x2x64xbf16>, tensor<1x2x64x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>, %st: tensor<64x64xf32>, %s1: f32):
    // expected-error @+1 {{state tile must be 'tensor<64x64xf32>', got 'tensor<64x64xbf16>'}}
    delta.chunk_yield %st, %vc : tensor<64x64xf32>, tensor<64x64xbf16>
  }
  return
}
