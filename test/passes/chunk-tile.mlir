// The delta-chunk-tile pass: delta.delta_rule -> delta.chunk_loop.
// RUN: delta-opt %s -delta-chunk-tile -split-input-file | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=32 warps=4" -split-input-file | FileCheck %s --check-prefix=OPTS

// CHECK-LABEL: func.func @tile
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x?x4x128xbf16>, %[[K:[^:]+]]: tensor<2x?x4x128xbf16>, %[[V:[^:]+]]: tensor<2x?x4x64xbf16>, %[[B:[^:]+]]: tensor<2x?x4xbf16>, %[[S:[^:]+]]: tensor<2x4x128x64xf32>)
// CHECK: %[[SCALE:.+]] = arith.constant 0.0883883461 : f32
// CHECK: %{{.+}}, %{{.+}} = delta.chunk_loop %[[Q]], %[[K]], %[[V]], %[[B]] initial_state(%[[S]] : tensor<2x4x128x64xf32>) scale(%[[SCALE]]) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 8, stages = 1>, use_qk_l2norm}
// CHECK: ^bb0(%[[QC:[^:]+]]: tensor<64x128xbf16>, %[[KC:[^:]+]]: tensor<64x128xbf16>, %[[VC:[^:]+]]: tensor<64x64xbf16>, %[[BC:[^:]+]]: tensor<64xf32>, %[[ST:[^:]+]]: tensor<128x64xf32>, %[[SC:[^:]+]]: f32):
// A = strict_lower(diag(beta) K K^T)
// CHECK: %[[KK:.+]] = delta.tile_matmul %[[KC]], %[[KC]] {transpose_b} : tensor<64x128xbf16>, tensor<64x128xbf16> -> tensor<64x64xf32>
// CHECK: %[[AS:.+]] = delta.tile_row_scale %[[KK]], %[[BC]]
// CHECK: %[[A:.+]] = delta.tile_mask strict_lower %[[AS]]
// T = (I + A)^-1 diag(beta) (bf16: only products read it)
// CHECK: %[[T:.+]] = delta.tile_ut_transform %[[A]], %[[BC]] : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
// Vn = T (V - K Sb) (the WY form's U - W Sb, W = T K and U = T V never
// formed), Sb the bf16 copy of the state the products read; X stays f32 and
// enters T X split (hi + lo).
// CHECK-NOT: delta.tile_matmul %[[T]], %[[KC]]
// CHECK: %[[SB:.+]] = delta.tile_convert %[[ST]] : tensor<128x64xf32> -> tensor<128x64xbf16>
// CHECK: %[[X:.+]] = delta.tile_matmul %[[KC]], %[[SB]] acc(%[[VC]] : tensor<64x64xbf16>) {negate} : tensor<64x128xbf16>, tensor<128x64xbf16> -> tensor<64x64xf32>
// CHECK: %[[VN:.+]] = delta.tile_matmul %[[T]], %[[X]] {split_f32} : tensor<64x64xbf16>, tensor<64x64xf32> -> tensor<64x64xbf16>
// O = scale (Q Sb + mask(Q K^T) Vn)
// CHECK: %[[QK:.+]] = delta.tile_matmul %[[QC]], %[[KC]] {transpose_b} : tensor<64x128xbf16>, tensor<64x128xbf16> -> tensor<64x64xbf16>
// CHECK: %[[P:.+]] = delta.tile_mask lower %[[QK]]
// CHECK: %[[O1:.+]] = delta.tile_matmul %[[QC]], %[[SB]] alpha(%[[SC]])
// CHECK: %[[O:.+]] = delta.tile_matmul %[[P]], %[[VN]] acc(%[[O1]] : tensor<64x64xf32>) alpha(%[[SC]])
// S' = S + K^T Vn
// CHECK: %[[NEXT:.+]] = delta.tile_matmul %[[KC]], %[[VN]] acc(%[[ST]] : tensor<128x64xf32>) {transpose_a} : tensor<64x128xbf16>, tensor<64x64xbf16> -> tensor<128x64xf32>
// CHECK: delta.chunk_yield %[[O]], %[[NEXT]] : tensor<64x64xf32>, tensor<128x64xf32>
// CHECK-NOT: delta.delta_rule
// OPTS-LABEL: func.func @tile
// OPTS: #delta.tile<chunk = 64, block_v = 32, warps = 4, stages = 1>
func.func @tile(%q: tensor<2x?x4x128xbf16>, %k: tensor<2x?x4x128xbf16>, %v: tensor<2x?x4x64xbf16>,
    %b: tensor<2x?x4xbf16>, %s: tensor<2x4x128x64xf32>) -> (tensor<2x?x4x64xbf16>, tensor<2x4x128x64xf32>) {
  %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<2x4x128x64xf32>) {use_qk_l2norm}
      : tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x128x64xf32>
  return %o, %f : tensor<2x?x4x64xbf16>, tensor<2x4x128x64xf32>
}

// -----

// The op's chunk size and scale carry over; dv narrower than block-v is one
// tile; cu_seqlens is kept.
// CHECK-LABEL: func.func @chunk32
// CHECK: %[[SCALE:.+]] = arith.constant 5.000000e-01 : f32
// CHECK: delta.chunk_loop {{.*}} cu_seqlens(%{{.*}} : tensor<3xi64>) scale(%[[SCALE]]) {tile = #delta.tile<chunk = 32, block_v = 32, warps = 8, stages = 1>}
// CHECK: ^bb0(%{{[^:]+}}: tensor<32x64xf16>, %{{[^:]+}}: tensor<32x64xf16>, %{{[^:]+}}: tensor<32x32xf16>, %{{[^:]+}}: tensor<32xf32>, %{{[^:]+}}: tensor<64x32xf32>, %{{[^:]+}}: f32)
func.func @chunk32(%q: tensor<1x?x2x64xf16>, %v: tensor<1x?x2x32xf16>, %b: tensor<1x?x2xf16>,
    %cu: tensor<3xi64>) -> tensor<1x?x2x32xf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b cu_seqlens(%cu : tensor<3xi64>) {chunk_size = 32 : i64, scale = 0.5 : f32}
      : tensor<1x?x2x64xf16>, tensor<1x?x2x64xf16>, tensor<1x?x2x32xf16>, tensor<1x?x2xf16>
      -> tensor<1x?x2x32xf16>, tensor<2x2x64x32xf32>
  return %o : tensor<1x?x2x32xf16>
}

// -----

// Dynamic head sizes cannot be tiled: left alone.
// CHECK-LABEL: func.func @dynamic_head
// CHECK: delta.delta_rule
func.func @dynamic_head(%q: tensor<1x8x2x?xf32>, %v: tensor<1x8x2x64xf32>, %b: tensor<1x8x2xf32>) -> tensor<1x8x2x64xf32> {
  %o, %f = delta.delta_rule %q, %q, %v, %b
      : tensor<1x8x2x?xf32>, tensor<1x8x2x?xf32>, tensor<1x8x2x64xf32>, tensor<1x8x2xf32>
      -> tensor<1x8x2x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x8x2x64xf32>
}
